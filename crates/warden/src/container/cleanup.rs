//! Removing every container of a run by its `warden.run` label: what the watchdog does when
//! warden dies, what `warden clean` does later, and the end-of-run safety net. Synchronous: the
//! watchdog and `clean` have no async runtime.

use std::time::Duration;

use serde::Serialize;

use super::engine::{Engine, EngineError, EngineKind, CHECK_TIMEOUT};
use super::spec::{boot_id, OWNER_LABEL, RUN_LABEL};

/// How many list-and-remove rounds before giving up: a container whose creation was in flight
/// when its run died can appear after the first round.
const ROUNDS: usize = 5;
const ROUND_PAUSE: Duration = Duration::from_millis(300);

/// A container found by label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub run_id: String,
    /// The `warden.owner` label: `<boot id>/<pid>/<start time>` of the warden that made it.
    pub owner: String,
}

impl ContainerInfo {
    /// Whether the warden that started this container is certainly gone: same boot of this
    /// machine, and its pid is dead or belongs to a process started at another time.
    /// Containers of other machines or boots sharing the engine are never judged.
    pub fn owner_dead(&self) -> bool {
        let mut parts = self.owner.split('/');
        let (Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
            return false;
        };
        if boot.is_empty() || boot_id().as_deref() != Some(boot) {
            return false;
        }
        crate::supervise::os::start_time(pid) != Some(start)
    }
}

/// Containers of `run_id`, or of every run when `None`, running or not.
pub fn list_containers(
    engine: &Engine,
    run_id: Option<&str>,
) -> Result<Vec<ContainerInfo>, EngineError> {
    let filter = match run_id {
        Some(id) => format!("label={RUN_LABEL}={id}"),
        None => format!("label={RUN_LABEL}"),
    };
    let label = |key: &str| match engine.kind {
        EngineKind::Docker => format!("{{{{.Label \"{key}\"}}}}"),
        EngineKind::Podman => format!("{{{{index .Labels \"{key}\"}}}}"),
    };
    let format = format!(
        "{{{{.ID}}}}\t{{{{.Names}}}}\t{}\t{}",
        label(RUN_LABEL),
        label(OWNER_LABEL)
    );
    let out = engine.output(
        [
            "ps",
            "--all",
            "--no-trunc",
            "--filter",
            &filter,
            "--format",
            &format,
        ],
        CHECK_TIMEOUT,
    )?;
    if !out.success {
        return Err(EngineError::NotAnswering {
            program: engine.program.display().to_string(),
            command: match engine.kind {
                EngineKind::Docker => "docker ps",
                EngineKind::Podman => "podman ps",
            },
            detail: engine.error_line(&out),
        });
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let id = f.next()?.trim().to_string();
            let name = f.next().unwrap_or_default().trim().to_string();
            let run = f.next().unwrap_or_default().trim().to_string();
            let owner = f.next().unwrap_or_default().trim().to_string();
            (!id.is_empty()).then_some(ContainerInfo {
                id,
                name,
                run_id: run,
                owner,
            })
        })
        .collect())
}

/// Force-remove (with anonymous volumes) every container of `run_id`; with `dry_run`, only
/// list them. Returns what was (or would be) removed.
pub fn remove_run_containers(
    engine: &Engine,
    run_id: &str,
    dry_run: bool,
) -> Result<Vec<ContainerInfo>, EngineError> {
    remove_where(engine, Some(run_id), |_| true, dry_run)
}

/// Remove the containers whose warden is dead ([`ContainerInfo::owner_dead`]): leftovers of
/// runs that no registry entry or watchdog took care of.
pub fn remove_orphan_containers(
    engine: &Engine,
    dry_run: bool,
) -> Result<Vec<ContainerInfo>, EngineError> {
    remove_where(engine, None, ContainerInfo::owner_dead, dry_run)
}

fn remove_where(
    engine: &Engine,
    run_id: Option<&str>,
    wanted: impl Fn(&ContainerInfo) -> bool,
    dry_run: bool,
) -> Result<Vec<ContainerInfo>, EngineError> {
    let mut removed: Vec<ContainerInfo> = Vec::new();
    let mut looked_again = false;
    for _ in 0..ROUNDS {
        let found: Vec<ContainerInfo> = list_containers(engine, run_id)?
            .into_iter()
            .filter(&wanted)
            .collect();
        if dry_run {
            return Ok(found);
        }
        if found.is_empty() {
            // After a removal, one more look: a creation in flight may have finished meanwhile.
            if removed.is_empty() || looked_again {
                break;
            }
            looked_again = true;
            std::thread::sleep(ROUND_PAUSE);
            continue;
        }
        looked_again = false;
        let mut args: Vec<&str> = vec!["rm", "--force", "--volumes"];
        args.extend(found.iter().map(|c| c.id.as_str()));
        // Errors for containers that vanished meanwhile are fine; the next round checks.
        let _ = engine.output(&args, CHECK_TIMEOUT)?;
        for c in found {
            if !removed.iter().any(|r| r.id == c.id) {
                removed.push(c);
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::spec::this_owner;
    use crate::container::testing::{bare_run_args, per_engine, test_image, variant_name};

    per_engine!(
        sync removes_every_container_of_the_run_and_only_those,
        orphans_are_the_containers_of_dead_wardens_only,
    );

    /// Start (or only create) a container of the test image with `run_id`'s and `owner`'s
    /// labels.
    fn start(engine: &Engine, image: &str, run_id: &str, name: &str, running: bool, owner: &str) {
        let sub = if running { "run" } else { "create" };
        let mut args = vec![sub];
        if running {
            args.push("--detach");
        }
        let label = format!("{RUN_LABEL}={run_id}");
        let owner = format!("{OWNER_LABEL}={owner}");
        let bare = bare_run_args(engine);
        args.extend(bare.iter().map(String::as_str));
        args.extend([
            "--name",
            name,
            "--label",
            &label,
            "--label",
            &owner,
            "--network",
            "none",
            image,
            "sleep",
            "300",
        ]);
        let out = engine.output(&args, CHECK_TIMEOUT).unwrap();
        assert!(out.success, "{}", out.first_error_line());
    }

    fn removes_every_container_of_the_run_and_only_those(d: Engine) {
        let image = test_image();
        let me = this_owner();
        let run = format!("cleanup-test-{}-{}", std::process::id(), variant_name(&d));
        let other = format!("{run}-other");
        start(&d, &image, &run, &format!("{run}-a"), true, me);
        start(&d, &image, &run, &format!("{run}-b"), false, me);
        start(&d, &image, &other, &format!("{run}-c"), true, me);

        let listed = list_containers(&d, Some(&run)).unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().all(|c| c.run_id == run && c.owner == me));

        let would = remove_run_containers(&d, &run, true).unwrap();
        assert_eq!(would.len(), 2);
        assert_eq!(
            list_containers(&d, Some(&run)).unwrap().len(),
            2,
            "dry run removed"
        );

        let mut removed = remove_run_containers(&d, &run, false).unwrap();
        removed.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = removed.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [format!("{run}-a"), format!("{run}-b")]);
        assert!(list_containers(&d, Some(&run)).unwrap().is_empty());
        assert_eq!(list_containers(&d, Some(&other)).unwrap().len(), 1);
        remove_run_containers(&d, &other, false).unwrap();
    }

    fn orphans_are_the_containers_of_dead_wardens_only(d: Engine) {
        // podman and podman through its service share a store: one's sweep would take the
        // other's planted orphan.
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let image = test_image();
        let run = format!("orphan-test-{}-{}", std::process::id(), variant_name(&d));
        let boot = boot_id().unwrap();
        // A pid that cannot be alive (above the kernel's maximum), this boot.
        let dead = format!("{boot}/{}/1", i32::MAX);
        let other_boot = format!("00000000-0000-0000-0000-000000000000/{}/1", i32::MAX);
        start(&d, &image, &run, &format!("{run}-dead"), true, &dead);
        start(&d, &image, &run, &format!("{run}-live"), true, this_owner());
        start(
            &d,
            &image,
            &run,
            &format!("{run}-elsewhere"),
            false,
            &other_boot,
        );

        let orphans = remove_orphan_containers(&d, false).unwrap();
        let mine: Vec<&str> = orphans
            .iter()
            .filter(|c| c.run_id == run)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(mine, [format!("{run}-dead")]);
        let mut left: Vec<String> = list_containers(&d, Some(&run))
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        left.sort();
        assert_eq!(left, [format!("{run}-elsewhere"), format!("{run}-live")]);
        remove_run_containers(&d, &run, false).unwrap();
    }
}
