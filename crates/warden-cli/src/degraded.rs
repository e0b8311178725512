//! The one warning line of a run whose containment is degraded (issue 12, "degraded is loud";
//! issue 10, "degraded containment is silent"): what is lost, and what would give it back.

use warden::supervise::os::controllers::ControllerRun;
use warden::supervise::os::no_cgroup::NoCgroup;

/// Where the docs explain each placement and how to get one.
pub const DOCS: &str = "docs/cgroups.md";

/// What the host gave the run, as far as the warning is concerned.
pub struct Containment<'a> {
    /// Why there is no v2 cgroup for tracking, when there is none.
    pub no_cgroup: Option<&'a NoCgroup>,
    pub controllers: &'a ControllerRun,
    /// The run was asked to go without cgroups (`WARDEN_NO_CGROUP`): nothing to warn about.
    pub disabled: bool,
    /// Why asking systemd for a delegated scope did not work, when it was tried.
    pub systemd_failed: Option<&'a str>,
    pub root: bool,
    /// systemd manages this host's cgroups.
    pub systemd: bool,
}

/// The warning, or `None` when nothing is lost.
pub fn warning(c: &Containment) -> Option<String> {
    if c.disabled || !cfg!(target_os = "linux") {
        return None;
    }
    let mut lost = Vec::new();
    if c.no_cgroup.is_some() {
        lost.push(
            "a process that leaves its session and sheds warden's marks is only killed at the end of the run, and not at all if warden is SIGKILLed",
        );
    }
    if c.controllers.memory().is_none() {
        lost.push(
            "--test-mem-limit becomes an address-space limit (no OOM status) and peak memory is approximate",
        );
    }
    if c.controllers.pids().is_none() {
        lost.push("--test-pids-limit is not enforced");
    }
    if lost.is_empty() {
        return None;
    }
    let mut why: Vec<String> = c.no_cgroup.iter().map(|w| w.to_string()).collect();
    if c.no_cgroup.is_none() {
        why.extend(c.controllers.notes().iter().cloned());
    }
    if let Some(f) = c.systemd_failed {
        why.push(format!("systemd gave no delegated scope: {f}"));
    }
    let fix = match (c.systemd, c.root) {
        (true, false) => "run it as `systemd-run --user --scope -p Delegate=yes warden ...`",
        (true, true) => "run it as `systemd-run --scope -p Delegate=yes warden ...`",
        (false, false) => "run it as root, or in a cgroup v2 subtree delegated to your user",
        (false, true) => "run it where a cgroup v2 hierarchy with controllers is mounted writable",
    };
    Some(format!(
        "degraded containment ({}): {}; to get them back, {fix} (see {DOCS})",
        why.join("; "),
        lost.join(", "),
    ))
}

/// The warning for a session whose containment is set up, or `None`.
pub fn for_session(session: &warden::session::Session) -> Option<String> {
    let (no_cgroup, controllers) = session.containment()?;
    let disabled = std::env::var_os(warden::supervise::os::cgroup::DISABLE_ENV)
        .is_some_and(|v| !v.is_empty() && v != "0");
    warning(&Containment {
        no_cgroup,
        controllers,
        disabled,
        systemd_failed: crate::systemd_scope::failure(),
        // SAFETY: geteuid has no preconditions.
        root: unsafe { libc::geteuid() } == 0,
        systemd: std::path::Path::new("/run/systemd/system").is_dir(),
    })
}
