//! Where podman differs from docker, each in one small function (docs/containers.md, "What
//! differs"): how it says it answers, the rlimits it would give a container, and the resource
//! limits it cannot enforce rootless on cgroup v1.

use nix::sys::resource::{getrlimit, Resource};
use serde_json::Value;

use super::engine::{AnswerError, CmdOutput, Engine, EngineFacts, EngineKind};

/// podman's own default for a container's `nofile` and `nproc` (`RLimitDefaultValue`).
const PODMAN_DEFAULT_RLIMIT: u64 = 1_048_576;

/// What `podman info --format json` says about the podman that will run the containers.
///
/// Local podman has no server: its `version` answers with a client section only, so `info`
/// (which opens the container store, or asks the service when remote) is the check that it
/// works. `host.serviceIsRemote` is true with `--remote`, `CONTAINER_HOST` or
/// `CONTAINER_CONNECTION`.
pub(crate) fn facts_from_info(stdout: &str) -> Result<EngineFacts, AnswerError> {
    let json: Value =
        serde_json::from_str(stdout.trim()).map_err(|source| AnswerError::NotJson {
            asked: "info",
            source,
        })?;
    let version = json
        .pointer("/version/Version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(AnswerError::Missing {
            asked: "info",
            missing: "version",
        })?;
    let cgroup_version = match json.pointer("/host/cgroupVersion").and_then(Value::as_str) {
        Some("v1") => 1,
        Some("v2") => 2,
        _ => 0,
    };
    let flag = |p: &str| json.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    Ok(EngineFacts {
        version: version.to_string(),
        remote: flag("/host/serviceIsRemote"),
        rootless: flag("/host/security/rootless"),
        cgroup_version,
    })
}

/// Whether the engine applies `--memory`, `--pids-limit` and `--cpus`. Rootless podman on
/// cgroup v1 cannot (it has no cgroup of its own to write them to): it drops them with a
/// warning printed into every test's output.
pub(crate) fn enforces_resource_limits(engine: &Engine) -> bool {
    !(engine.kind == EngineKind::Podman
        && engine.facts.rootless
        && engine.facts.cgroup_version == 1)
}

/// `--ulimit nofile=S:H --ulimit nproc=S:H` with the limits warden itself runs under, for
/// podman only. Unless told otherwise podman gives every container `nofile` and `nproc` of
/// 1048576 (rootful) and the OCI runtime fails to start it (`error setting rlimit type 7:
/// operation not permitted`) wherever warden's own hard limit is lower and podman lacks
/// CAP_SYS_RESOURCE: CI containers, sandboxes. The test gets what a process test would get.
/// A limit already given (`--safe-mode`'s `nofile`, a `--ulimit` in `extra_args`) is left
/// alone.
pub(crate) fn ulimit_args(safe_mode: bool, extra_args: &[String]) -> Vec<String> {
    let given = |name: &str| {
        let prefix = format!("{name}=");
        extra_args
            .iter()
            .any(|a| a.starts_with(&prefix) || a.starts_with(&format!("--ulimit={prefix}")))
    };
    let mut args = Vec::new();
    if !safe_mode && !given("nofile") {
        if let Some((soft, hard)) = own_limit(Resource::RLIMIT_NOFILE, PODMAN_DEFAULT_RLIMIT) {
            args.extend(["--ulimit".to_string(), format!("nofile={soft}:{hard}")]);
        }
    }
    if !given("nproc") {
        // podman 4.3 lowers its own RLIMIT_NPROC to kernel.pid_max (seen: 96365 became 32768),
        // so the runtime it starts cannot set more; no user can have more processes anyway.
        let ceiling = pid_max().unwrap_or(PODMAN_DEFAULT_RLIMIT);
        if let Some((soft, hard)) = own_limit(Resource::RLIMIT_NPROC, ceiling) {
            args.extend(["--ulimit".to_string(), format!("nproc={soft}:{hard}")]);
        }
    }
    args
}

/// This process's `(soft, hard)` limit of `resource`, neither above `ceiling` (nor
/// unlimited).
fn own_limit(resource: Resource, ceiling: u64) -> Option<(u64, u64)> {
    let (soft, hard) = getrlimit(resource).ok()?;
    let hard = hard.min(ceiling);
    Some((soft.min(hard), hard))
}

fn pid_max() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reap the container monitors that local podman left to warden. `podman run` starts a conmon
/// per container that daemonizes; warden being the child subreaper, each one is re-parented to
/// it and stays a zombie once its container is gone, one per test, unless reaped. Only
/// unclaimed zombies are reaped: engine CLIs still awaited by the runtime are left alone.
pub(crate) fn reap_monitor_zombies() {
    crate::supervise::os::reap_orphans(crate::supervise::is_waited_for);
}

/// Whether local podman's container monitor recorded an OOM kill in `client_dir`, the working
/// directory of the `podman run` that started it. On cgroup v1, conmon 2.1 notices the kill but
/// writes its `oom` marker into its working directory instead of where podman looks, so
/// `inspect` never says `OOMKilled` (seen with podman 4.3.1 and conmon 2.1.6: every OOM kill,
/// an empty `oom` file in the directory `podman run` was started from).
pub(crate) fn monitor_saw_oom_kill(client_dir: &std::path::Path) -> bool {
    client_dir.join("oom").exists()
}

/// The line of podman's stderr that says what failed: podman prints a hint ("Cannot connect
/// to Podman. Please verify ...") or `level=warning` lines before its `Error: ...`.
pub(crate) fn error_line(out: &CmdOutput) -> String {
    out.stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Error"))
        .map(str::to_string)
        .unwrap_or_else(|| out.first_error_line())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn podman(rootless: bool, cgroup_version: u8) -> Engine {
        Engine {
            kind: EngineKind::Podman,
            program: "/usr/bin/podman".into(),
            env: Vec::new(),
            facts: EngineFacts {
                version: "4.3.1".into(),
                remote: false,
                rootless,
                cgroup_version,
            },
        }
    }

    #[test]
    fn info_of_local_and_remote_podman() {
        let local = r#"{"host":{"cgroupVersion":"v1","serviceIsRemote":false,
            "security":{"rootless":true}},"version":{"Version":"4.3.1"}}"#;
        assert_eq!(
            facts_from_info(local).unwrap(),
            EngineFacts {
                version: "4.3.1".into(),
                remote: false,
                rootless: true,
                cgroup_version: 1
            }
        );
        let remote = r#"{"host":{"cgroupVersion":"v2","serviceIsRemote":true,
            "security":{"rootless":false}},"version":{"Version":"5.0.0"}}"#;
        let f = facts_from_info(remote).unwrap();
        assert!(f.remote && !f.rootless && f.cgroup_version == 2);
        let e = facts_from_info("{}").unwrap_err();
        assert!(
            matches!(
                e,
                AnswerError::Missing {
                    asked: "info",
                    missing: "version"
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "no version in the answer to `info`");
        let e = facts_from_info("Client: Podman Engine").unwrap_err();
        assert!(
            matches!(e, AnswerError::NotJson { asked: "info", .. }),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("unexpected answer to `info`: "));
    }

    #[test]
    fn only_rootless_podman_on_cgroup_v1_drops_resource_limits() {
        assert!(!enforces_resource_limits(&podman(true, 1)));
        assert!(enforces_resource_limits(&podman(true, 2)));
        assert!(enforces_resource_limits(&podman(false, 1)));
        let docker = Engine {
            kind: EngineKind::Docker,
            ..podman(true, 1)
        };
        assert!(enforces_resource_limits(&docker));
    }

    #[test]
    fn ulimits_are_warden_own_and_yield_to_given_ones() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let hard = hard.min(PODMAN_DEFAULT_RLIMIT);
        let args = ulimit_args(false, &[]);
        assert_eq!(args[0], "--ulimit");
        assert_eq!(
            args[1],
            format!("nofile={}:{hard}", soft.min(hard)),
            "{args:?}"
        );
        assert_eq!(args[2], "--ulimit");
        assert!(args[3].starts_with("nproc="), "{args:?}");
        let (soft, hard) = args[3]["nproc=".len()..].split_once(':').unwrap();
        let (soft, hard): (u64, u64) = (soft.parse().unwrap(), hard.parse().unwrap());
        assert!(soft <= hard && hard <= pid_max().unwrap(), "{args:?}");
        // --safe-mode sets nofile itself; extra_args win.
        assert_eq!(ulimit_args(true, &[]).len(), 2);
        let extra: Vec<String> = ["--ulimit", "nproc=100:100", "--ulimit=nofile=64"]
            .map(String::from)
            .to_vec();
        assert!(ulimit_args(false, &extra).is_empty());
    }

    /// Local podman tells of an OOM kill without the kernel log: in `inspect`, or (conmon 2.1
    /// on cgroup v1) by the marker in the working directory of `podman run`.
    #[test]
    fn local_podman_tells_of_an_oom_kill_without_the_kernel_log() {
        use crate::container::testing::{bare_run_args, engine, test_image, Variant};
        let Some((podman, _)) = engine(Variant::Podman) else {
            return;
        };
        if !enforces_resource_limits(&podman) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let name = format!("podman-oom-witness-{}", std::process::id());
        let mut cmd = podman.command();
        cmd.current_dir(dir.path())
            .args(["run", "--name", &name, "--network", "none"])
            .args(bare_run_args(&podman))
            .args(["--memory", "32m", "--memory-swap", "32m", &test_image()])
            // Over the limit at once (see container::tests::over_the_memory_limit_is_oom).
            .args(["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"]);
        let out = crate::container::engine::run_with_timeout(cmd, Duration::from_secs(60)).unwrap();
        assert_eq!(out.code, Some(137), "{}", out.stderr);
        let flagged = podman
            .output(
                ["inspect", "--format", "{{.State.OOMKilled}}", &name],
                Duration::from_secs(30),
            )
            .unwrap();
        let _ = podman.output(["rm", "--force", &name], Duration::from_secs(30));
        assert!(
            flagged.stdout.trim() == "true" || monitor_saw_oom_kill(dir.path()),
            "podman said OOMKilled={} and left no marker in {}",
            flagged.stdout.trim(),
            dir.path().display()
        );
    }

    #[test]
    fn the_error_line_wins_over_hints() {
        let out = CmdOutput {
            success: false,
            code: Some(125),
            stdout: String::new(),
            stderr: "Cannot connect to Podman. Please verify your connection\n\
                     Error: unable to connect to Podman socket: dial unix /x.sock: connect: no such file or directory\n"
                .into(),
        };
        assert!(error_line(&out).starts_with("Error: unable to connect to Podman socket"));
        let plain = CmdOutput {
            stderr: "something else\n".into(),
            ..out
        };
        assert_eq!(error_line(&plain), "something else");
    }
}
