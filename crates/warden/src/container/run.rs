//! One test's life in a container: `run` it attached (output streams back through the engine
//! CLI), enforce the timeout and cancellation with `kill` (TERM, grace, KILL), read how it ended
//! from `inspect`, and always remove it. The container is known by name before `run` is called
//! and by id (cidfile) from the moment it exists, so nothing created in between is lost.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::Deserialize;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::engine::{CmdOutput, Engine, EngineKind};
use super::measure::Measure;
use super::oom::kernel_logged_oom_kill;
use super::pause::ContainerPause;
use super::podman;
use super::spec::{ContainerRun, ContainerSpec};
use crate::events::{CapturedOutput, Leak};
use crate::supervise::{
    drive, not_started, pause, Cancel, ClaimedChild, DriveSpec, End, Exit, Finish, MemCapBy,
    ProcessOutcome, SpawnSpec, Stop, Supervisee, Usage,
};

/// How long an engine command (kill, inspect, rm) may take.
const ENGINE_CMD_LIMIT: Duration = Duration::from_secs(30);
/// After a KILL, how long to wait for the engine CLI to notice the container ended before
/// killing the CLI itself (the container is removed by id or name either way).
const KILL_WAIT: Duration = Duration::from_secs(20);
/// How often, and how far apart, a SIGKILLed container is inspected again for an OOM kill
/// when the kernel log cannot be read.
const OOM_NOTICE_POLLS: usize = 5;
const OOM_NOTICE_PAUSE: Duration = Duration::from_millis(100);

/// Run the test of `process` in a container of `run`: the one place where a container run
/// stands in for [`crate::supervise::run_process`].
pub async fn run_test_in_container(
    run: &ContainerRun,
    process: &SpawnSpec,
    test_id: &str,
    attempt: u32,
    cancel: watch::Receiver<Cancel>,
) -> ProcessOutcome {
    match run.spec_for(process, test_id, attempt) {
        Ok(spec) => run_in_container(&spec, cancel).await,
        Err(e) => failed_outcome(e.to_string(), Duration::ZERO),
    }
}

/// Run `spec` to the end. `cancel` leaving `Cancel::No` stops the container early (TERM, then
/// KILL after the grace; `Cancel::Now` kills at once). The container is removed in every case.
pub async fn run_in_container(
    spec: &ContainerSpec,
    cancel: watch::Receiver<Cancel>,
) -> ProcessOutcome {
    let started = Instant::now();
    let (container, reader) = match Container::start(spec) {
        Ok(c) => c,
        Err(e) => return not_started(e.to_string(), started.elapsed(), None),
    };
    let how = DriveSpec {
        timeout: spec.timeout,
        grace: spec.grace,
        capture: spec.capture.as_ref(),
    };
    drive(container, started, reader, how, cancel).await
}

fn failed_outcome(msg: String, duration: Duration) -> ProcessOutcome {
    not_started(msg, duration, None)
}

/// One container as the driver sees it: its main end is the engine CLI that runs it attached
/// (it returns when the container ended); TERM and KILL go through the engine's `kill`.
struct Container<'a> {
    spec: &'a ContainerSpec,
    name: String,
    client_dir: PathBuf,
    client: tokio::process::Child,
    /// The CLI is ours to wait for while this lives (the orphan reaper leaves it alone).
    claim: ClaimedChild,
    measure: Measure,
}

/// Why a container did not start: the test is an `error` with this message.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("cannot create {}: {source}", dir.display())]
    ClientDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create output pipe: {0}")]
    Pipe(#[source] std::io::Error),
    #[error("cannot run {}: {source}", program.display())]
    Client {
        program: PathBuf,
        source: std::io::Error,
    },
}

impl<'a> Container<'a> {
    fn start(
        spec: &'a ContainerSpec,
    ) -> Result<(Container<'a>, Option<pipe::Receiver>), StartError> {
        // The engine refuses to overwrite a cidfile (a retry of the same test, or a stale one).
        if let Some(dir) = spec.cidfile.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::remove_file(&spec.cidfile);
        let client_dir = client_dir(spec);
        let _ = std::fs::remove_dir_all(&client_dir);
        if let Err(source) = std::fs::create_dir(&client_dir) {
            return Err(StartError::ClientDir {
                dir: client_dir,
                source,
            });
        }
        let (client, reader, claim) = spawn_client(spec)?;
        let c = Container {
            spec,
            name: spec.name(),
            client_dir,
            client,
            claim,
            measure: Measure::new(),
        };
        Ok((c, reader))
    }

    /// The container's id once the engine wrote it, else its name.
    fn target(&self) -> String {
        container_ref(&self.spec.cidfile, &self.name)
    }
}

impl Supervisee for Container<'_> {
    fn register_pause(&self) -> pause::Registration {
        pause::register(Box::new(ContainerPause::new(self.spec)))
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.client.wait().await
    }

    fn sample_due(&self) -> Option<Instant> {
        self.measure.due()
    }

    async fn sample(&mut self) {
        self.measure.sample(self.spec).await;
    }

    async fn leftovers(&mut self) -> Vec<Leak> {
        // Whatever the test started went with the container (the engine removes it whole).
        Vec::new()
    }

    async fn signal(&mut self, stop: Stop) {
        let signal = match stop {
            Stop::Term => "TERM",
            Stop::Kill => "KILL",
        };
        let target = self.target();
        // Fails harmlessly when the container already ended or does not exist yet.
        let _ = engine_cmd(
            &self.spec.engine,
            &["kill", "--signal", signal, target.as_str()],
        )
        .await;
    }

    fn is_gone(&self) -> bool {
        // The CLI returns once the container ended.
        true
    }

    fn kill_wait(&self) -> Option<Duration> {
        Some(KILL_WAIT)
    }

    async fn force_end(&mut self) -> (std::io::Result<ExitStatus>, String) {
        let note = format!(
            "{} did not return {}s after the container was killed; killed it",
            self.spec.engine.kind.name(),
            KILL_WAIT.as_secs()
        );
        let _ = self.client.start_kill();
        (self.client.wait().await, note)
    }

    async fn finish(self, end: End, output: &CapturedOutput) -> Finish {
        let target = self.target();
        let Container {
            spec,
            client_dir,
            claim,
            measure,
            ..
        } = self;
        let mut notes = Vec::new();
        drop(claim);
        // How it ended (only the engine knows about OOM kills), then remove it.
        let mut state = match end {
            End::Stopped(_) => None,
            End::Returned(_) => inspect_state(&spec.engine, &target).await,
        };
        // A SIGKILLed test the engine does not call OOM-killed may still be one (see oom.rs):
        // local podman's monitor may have said so in the CLI's directory; else the kernel log
        // decides when it is readable, else the engine gets a moment to catch up.
        if let Some(s) = state
            .as_mut()
            .filter(|s| !s.oom_killed && s.exit_code == 128 + 9)
        {
            let monitor_saw_it =
                spec.engine.kind == EngineKind::Podman && podman::monitor_saw_oom_kill(&client_dir);
            let witnessed = match monitor_saw_it {
                true => Some(true),
                false => kernel_logged_oom_kill(&target),
            };
            match witnessed {
                Some(found) => s.oom_killed = found,
                None => {
                    for _ in 0..OOM_NOTICE_POLLS {
                        sleep(OOM_NOTICE_PAUSE).await;
                        if let Some(again) = inspect_state(&spec.engine, &target).await {
                            *s = again;
                        }
                        if s.oom_killed {
                            break;
                        }
                    }
                }
            }
        }
        if let Some(msg) = remove(&spec.engine, &target).await {
            notes.push(msg);
        }
        let _ = std::fs::remove_file(&spec.cidfile);
        let _ = std::fs::remove_dir_all(&client_dir);
        if spec.engine.kind == EngineKind::Podman && !spec.engine.facts.remote {
            podman::reap_monitor_zombies();
        }
        let exit = match end {
            End::Stopped(e) => e,
            End::Returned(st) => {
                let client_code = st.ok().and_then(|st| st.code());
                let program = spec.argv.first().map(String::as_str).unwrap_or_default();
                exit_of(client_code, state.as_ref(), &output_text(output), program)
            }
        };
        let (peak_rss_bytes, cpu_ms) = measure.usage();
        Finish {
            exit,
            usage: Usage {
                peak_rss_bytes,
                cpu_ms,
                // The engine enforces the memory limit with a cgroup.
                mem_limit: spec.memory.map(|b| (b, MemCapBy::Cgroup)),
                oom_killed: state.as_ref().is_some_and(|s| s.oom_killed),
            },
            notes,
        }
    }
}

/// The directory the engine CLI runs in for one container: the run's own, never the user's
/// working directory, because local podman's conmon inherits it and writes there (see
/// `podman::monitor_saw_oom_kill`). Removed with the container.
fn client_dir(spec: &ContainerSpec) -> std::path::PathBuf {
    spec.cidfile.with_extension("d")
}

/// Start `ENGINE run ...` in its own process group (a Ctrl-C at the terminal is warden's to
/// handle, not the CLI's to forward), stdout and stderr into one pipe.
fn spawn_client(
    spec: &ContainerSpec,
) -> Result<(tokio::process::Child, Option<pipe::Receiver>, ClaimedChild), StartError> {
    let mut cmd = spec.engine.command();
    cmd.current_dir(client_dir(spec))
        .args(spec.run_args())
        .envs(spec.client_env.iter().map(|(k, v)| (k, v)));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut reader = None;
    if spec.capture.is_some() {
        let (tx, rx) = pipe::pipe().map_err(StartError::Pipe)?;
        let fd = tx.into_blocking_fd().map_err(StartError::Pipe)?;
        let fd2 = fd.try_clone().map_err(StartError::Pipe)?;
        cmd.stdout(Stdio::from(fd)).stderr(Stdio::from(fd2));
        reader = Some(rx);
    }
    let mut cmd = tokio::process::Command::from(cmd);
    // If warden drops the test (it never should), the CLI goes with it; the container is
    // still found by its label.
    cmd.kill_on_drop(true);
    let (child, claim) = ClaimedChild::spawn(&mut cmd).map_err(|source| StartError::Client {
        program: spec.engine.program.clone(),
        source,
    })?;
    Ok((child, reader, claim))
}

/// The container's id once the engine wrote it, else its name.
pub(super) fn container_ref(cidfile: &Path, name: &str) -> String {
    std::fs::read_to_string(cidfile)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| name.to_string())
}

/// `rm -f -v`; `Some(message)` when the container could not be removed.
async fn remove(engine: &Engine, target: &str) -> Option<String> {
    let out = engine_cmd(engine, &["rm", "--force", "--volumes", target]).await;
    match out {
        Some(o) if o.success || is_no_such_container(&o) => None,
        Some(o) => Some(format!(
            "cannot remove container {target}: {}",
            engine.error_line(&o)
        )),
        None => Some(format!(
            "cannot remove container {target}: {} did not answer",
            engine.kind.name()
        )),
    }
}

fn is_no_such_container(o: &CmdOutput) -> bool {
    let msg = o.stderr.to_ascii_lowercase();
    msg.contains("no such container") || msg.contains("no container with")
}

/// The part of `inspect` that says how the container ended.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct State {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default, rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(default)]
    pub error: String,
}

async fn inspect_state(engine: &Engine, target: &str) -> Option<State> {
    let out = engine_cmd(
        engine,
        &[
            "inspect",
            "--type",
            "container",
            "--format",
            "{{json .State}}",
            target,
        ],
    )
    .await?;
    if !out.success {
        return None;
    }
    serde_json::from_str(out.stdout.trim()).ok()
}

/// How the test ended, from the CLI's exit code, the container's state (when it was created)
/// and the output (the init's own complaint when `program` cannot be started). An OOM kill
/// is not an exit: it goes into the outcome's usage, as for a process.
pub(crate) fn exit_of(
    client_code: Option<i32>,
    state: Option<&State>,
    output: &str,
    program: &str,
) -> Exit {
    let Some(state) = state else {
        // Never created: the CLI said why (bad option, daemon error) on its stderr.
        let why = output
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("Run '"))
            .map(str::to_string)
            .unwrap_or_else(|| match client_code {
                Some(c) => format!("the container engine failed with exit status {c}"),
                None => "the container engine was killed".to_string(),
            });
        return Exit::SpawnFailed(format!("cannot start the container: {why}"));
    };
    if !state.error.is_empty() {
        return Exit::SpawnFailed(format!("cannot start the container: {}", state.error));
    }
    if state.status == "created" {
        // podman leaves `Error` empty and says why on the CLI's stderr (the OCI runtime failed).
        let why = output
            .lines()
            .map(str::trim)
            .rfind(|l| l.starts_with("Error") || l.starts_with("docker: Error"))
            .unwrap_or("the container was created but never started");
        return Exit::SpawnFailed(format!("cannot start the container: {why}"));
    }
    let code = state.exit_code;
    if let Some(line) = init_exec_failure(code, output) {
        // catatonit does not name the program.
        return Exit::SpawnFailed(format!("cannot run `{program}` in the container: {line}"));
    }
    // A process killed by signal N shows up as 128 + N (the init and the engine both map it).
    match code {
        129..=159 => Exit::Signal(code - 128),
        _ => Exit::Code(code),
    }
}

/// The init's complaint that it could not exec the command: the same situation as a missing
/// program outside a container. docker-init (tini) exits 126 or 127; catatonit, podman's init,
/// exits 1 (`ERROR (catatonit:6): failed to exec pid1: No such file or directory`).
fn init_exec_failure(code: i32, output: &str) -> Option<&str> {
    output.lines().rev().find(|l| match code {
        126 | 127 => l.starts_with("[FATAL tini") || catatonit_exec_failure(l),
        1 => catatonit_exec_failure(l),
        _ => false,
    })
}

fn catatonit_exec_failure(line: &str) -> bool {
    line.starts_with("ERROR (catatonit") && line.contains("failed to exec")
}

fn output_text(out: &CapturedOutput) -> String {
    let mut bytes = out.head.clone();
    bytes.extend_from_slice(&out.tail);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Run an engine command asynchronously; `None` when it cannot be started or takes too long.
pub(crate) async fn engine_cmd(engine: &Engine, args: &[&str]) -> Option<CmdOutput> {
    engine_cmd_within(engine, args, ENGINE_CMD_LIMIT).await
}

/// [`engine_cmd`] that may take at most `limit`.
pub(crate) async fn engine_cmd_within(
    engine: &Engine,
    args: &[&str],
    limit: Duration,
) -> Option<CmdOutput> {
    let mut cmd = tokio::process::Command::from(engine.command());
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let (child, _claim) = ClaimedChild::spawn(&mut cmd).ok()?;
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    Some(CmdOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(code: i32) -> State {
        State {
            status: "exited".into(),
            exit_code: code,
            ..State::default()
        }
    }

    #[test]
    fn exit_codes_map_as_for_processes() {
        assert_eq!(exit_of(Some(0), Some(&state(0)), "", "sh"), Exit::Code(0));
        assert_eq!(exit_of(Some(3), Some(&state(3)), "", "sh"), Exit::Code(3));
        assert_eq!(
            exit_of(Some(137), Some(&state(137)), "", "sh"),
            Exit::Signal(9)
        );
        assert_eq!(
            exit_of(Some(143), Some(&state(143)), "", "sh"),
            Exit::Signal(15)
        );
        assert_eq!(
            exit_of(Some(200), Some(&state(200)), "", "sh"),
            Exit::Code(200)
        );
        // A test's own 127 stays a failure; the init's complaint makes it a start error.
        assert_eq!(
            exit_of(Some(127), Some(&state(127)), "sh: x: not found\n", "sh"),
            Exit::Code(127)
        );
        assert_eq!(
            exit_of(
                Some(127),
                Some(&state(127)),
                "[FATAL tini (7)] exec nope failed: No such file or directory\n",
                "nope"
            ),
            Exit::SpawnFailed(
                "cannot run `nope` in the container: [FATAL tini (7)] exec nope failed: No such file or directory".into()
            )
        );
    }

    #[test]
    fn catatonit_failing_to_exec_is_a_start_error() {
        let said = "ERROR (catatonit:6): failed to exec pid1: No such file or directory\n";
        assert_eq!(
            exit_of(Some(1), Some(&state(1)), said, "nope"),
            Exit::SpawnFailed(
                "cannot run `nope` in the container: ERROR (catatonit:6): failed to exec pid1: No such file or directory".into()
            )
        );
        // A test that fails with 1 and says nothing of the kind is a failure.
        assert_eq!(
            exit_of(Some(1), Some(&state(1)), "ERROR: failed to exec\n", "sh"),
            Exit::Code(1)
        );
        assert_eq!(exit_of(Some(3), Some(&state(3)), said, "sh"), Exit::Code(3));
    }

    #[test]
    fn oom_and_start_errors_come_from_the_state() {
        let oom = State {
            oom_killed: true,
            ..state(0)
        };
        // The exit stays what it was; the OOM kill is reported through the usage.
        assert_eq!(exit_of(Some(0), Some(&oom), "", "sh"), Exit::Code(0));
        let failed = State {
            status: "created".into(),
            error: "exec: \"nope\": executable file not found in $PATH".into(),
            ..state(127)
        };
        assert_eq!(
            exit_of(Some(127), Some(&failed), "", "sh"),
            Exit::SpawnFailed(
                "cannot start the container: exec: \"nope\": executable file not found in $PATH"
                    .into()
            )
        );
        // podman: created, no `Error` in the state, the reason on the CLI's stderr.
        let created = State {
            status: "created".into(),
            ..state(0)
        };
        assert_eq!(
            exit_of(
                Some(126),
                Some(&created),
                "Error: runc: runc create failed: error setting rlimit type 7: operation not permitted: OCI permission denied\n",
                "sh"
            ),
            Exit::SpawnFailed("cannot start the container: Error: runc: runc create failed: error setting rlimit type 7: operation not permitted: OCI permission denied".into())
        );
        assert_eq!(
            exit_of(Some(126), Some(&created), "", "sh"),
            Exit::SpawnFailed(
                "cannot start the container: the container was created but never started".into()
            )
        );
        assert_eq!(
            exit_of(
                Some(125),
                None,
                "docker: Error response from daemon: bad mount.\n\nRun 'docker run --help' for more information\n",
                "sh"
            ),
            Exit::SpawnFailed("cannot start the container: docker: Error response from daemon: bad mount.".into())
        );
    }

    #[test]
    fn state_parses_from_inspect_json() {
        let s: State = serde_json::from_str(
            r#"{"Status":"exited","Running":false,"OOMKilled":true,"ExitCode":137,"Error":""}"#,
        )
        .unwrap();
        assert_eq!(
            s,
            State {
                status: "exited".into(),
                exit_code: 137,
                oom_killed: true,
                error: String::new()
            }
        );
    }
}
