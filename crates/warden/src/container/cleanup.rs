//! Removing every container of a run by its `warden.run` label: what the watchdog does when
//! warden dies, what `warden clean` does later, and the end-of-run safety net. Synchronous: the
//! watchdog and `clean` have no async runtime.

use std::time::Duration;

use serde::Serialize;

use super::engine::{Engine, EngineError, EngineKind, CHECK_TIMEOUT};
use super::spec::RUN_LABEL;

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
    let label = match engine.kind {
        EngineKind::Docker => format!("{{{{.Label \"{RUN_LABEL}\"}}}}"),
        EngineKind::Podman => format!("{{{{index .Labels \"{RUN_LABEL}\"}}}}"),
    };
    let format = format!("{{{{.ID}}}}\t{{{{.Names}}}}\t{label}");
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
            name: engine.kind.name(),
            detail: out.first_error_line(),
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
            (!id.is_empty()).then_some(ContainerInfo {
                id,
                name,
                run_id: run,
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

/// Remove the containers of every run for which `is_live` says no: leftovers of runs the
/// registry no longer knows.
pub fn remove_orphan_containers(
    engine: &Engine,
    is_live: impl Fn(&str) -> bool,
    dry_run: bool,
) -> Result<Vec<ContainerInfo>, EngineError> {
    remove_where(engine, None, |c| !is_live(&c.run_id), dry_run)
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
    use crate::container::testing::{docker, test_image};

    /// Start a detached container of the test image carrying `run_id`'s label.
    fn start(engine: &Engine, image: &str, run_id: &str, name: &str, running: bool) {
        let sub = if running { "run" } else { "create" };
        let mut args = vec![sub];
        if running {
            args.push("--detach");
        }
        let label = format!("{RUN_LABEL}={run_id}");
        args.extend([
            "--name",
            name,
            "--label",
            &label,
            "--network",
            "none",
            image,
            "sleep",
            "300",
        ]);
        let out = engine.output(&args, CHECK_TIMEOUT).unwrap();
        assert!(out.success, "{}", out.first_error_line());
    }

    #[test]
    fn removes_every_container_of_the_run_and_only_those() {
        let d = docker();
        let image = test_image();
        let run = format!("cleanup-test-{}", std::process::id());
        let other = format!("{run}-other");
        start(&d, &image, &run, &format!("{run}-a"), true);
        start(&d, &image, &run, &format!("{run}-b"), false);
        start(&d, &image, &other, &format!("{run}-c"), true);

        let listed = list_containers(&d, Some(&run)).unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().all(|c| c.run_id == run));

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

        // The other run is "dead" as far as this predicate knows: an orphan.
        // Only runs of this test count as dead: containers of tests running beside it are live.
        let orphans = remove_orphan_containers(&d, |id| !id.starts_with(&run), false).unwrap();
        assert!(orphans.iter().any(|c| c.run_id == other), "{orphans:?}");
        assert!(list_containers(&d, Some(&other)).unwrap().is_empty());
    }
}
