//! The one warning line of a run whose containment is degraded (issue 12, "degraded is loud";
//! issue 10, "degraded containment is silent"): what is lost, and what would give it back.

use warden::supervise::os::cgroup::DISABLE_ENV;
use warden::supervise::os::controllers::ControllerRun;
use warden::supervise::os::no_cgroup::NoCgroup;

/// Where the docs explain each placement and how to get one.
pub const DOCS: &str = "docs/cgroups.md";

const MEMORY_LOST: &str =
    "--test-mem-limit becomes an address-space limit (no OOM status) and peak memory is approximate";
const PIDS_LOST: &str = "--test-pids-limit is not enforced";

/// What the host gave the run, as far as the warning is concerned.
pub struct Containment<'a> {
    /// Why there is no v2 cgroup for tracking, when there is none.
    pub no_cgroup: Option<&'a NoCgroup>,
    pub controllers: &'a ControllerRun,
    /// The run was asked to go without cgroups (`WARDEN_NO_CGROUP`): only caps it then cannot
    /// enforce are worth a warning.
    pub disabled: bool,
    /// A per-test memory cap was asked for (`--test-mem-limit`, `@mem`), outside containers
    /// (where the engine enforces it).
    pub mem_capped: bool,
    /// `--test-pids-limit` was asked for, outside containers.
    pub pids_capped: bool,
    /// Why asking systemd for a delegated scope did not work, when it was tried.
    pub systemd_failed: Option<&'a str>,
    pub root: bool,
    /// systemd manages this host's cgroups.
    pub systemd: bool,
}

/// The warning, or `None` when nothing is lost.
/// The one line, also for the caps: there is no second warning about a memory or pids cap.
pub fn warning(c: &Containment) -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    if c.disabled {
        let mut lost = Vec::new();
        if c.mem_capped && c.controllers.memory().is_none() {
            lost.push(MEMORY_LOST);
        }
        if c.pids_capped && c.controllers.pids().is_none() {
            lost.push(PIDS_LOST);
        }
        return (!lost.is_empty()).then(|| format!("{DISABLE_ENV} is set: {}", lost.join(", ")));
    }
    let mut lost = Vec::new();
    if c.no_cgroup.is_some() {
        lost.push(
            "a process that leaves its session and sheds warden's marks is only killed at the end of the run, and not at all if warden is SIGKILLed",
        );
    }
    if c.controllers.memory().is_none() {
        lost.push(MEMORY_LOST);
    }
    if c.controllers.pids().is_none() {
        lost.push(PIDS_LOST);
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
    let settings = session.settings();
    let disabled = std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    let outside_containers = !settings.container.enabled;
    warning(&Containment {
        no_cgroup,
        controllers,
        disabled,
        mem_capped: outside_containers
            && (settings.run.test_limits.mem_bytes.is_some()
                || session.tests().iter().any(|t| t.mem_limit.is_some())),
        pids_capped: outside_containers && settings.run.test_limits.pids.is_some(),
        systemd_failed: crate::systemd_scope::failure(),
        // SAFETY: geteuid has no preconditions.
        root: unsafe { libc::geteuid() } == 0,
        systemd: std::path::Path::new("/run/systemd/system").is_dir(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without_controllers(disabled: bool, capped: bool) -> Option<String> {
        let none = ControllerRun::default();
        let no_cgroup = NoCgroup::NoV2Mount;
        warning(&Containment {
            no_cgroup: Some(&no_cgroup),
            controllers: &none,
            disabled,
            mem_capped: capped,
            pids_capped: capped,
            systemd_failed: None,
            root: false,
            systemd: false,
        })
    }

    #[test]
    fn degraded_is_one_line_that_covers_the_caps() {
        let w = without_controllers(false, true).expect("a warning");
        assert!(
            w.starts_with("degraded containment (no cgroup2 hierarchy"),
            "{w}"
        );
        assert!(w.contains(MEMORY_LOST) && w.contains(PIDS_LOST), "{w}");
        assert_eq!(without_controllers(false, false), Some(w));
    }

    #[test]
    fn cgroups_turned_off_warn_only_about_caps_asked_for() {
        assert_eq!(without_controllers(true, false), None);
        let w = without_controllers(true, true).expect("a warning");
        assert_eq!(
            w,
            format!("{DISABLE_ENV} is set: {MEMORY_LOST}, {PIDS_LOST}")
        );
    }
}
