//! One test's life in a container: `run` it attached (output streams back through the engine
//! CLI), enforce the timeout and cancellation with `kill` (TERM, grace, KILL), read how it ended
//! from `inspect`, and always remove it. The container is known by name before `run` is called
//! and by id (cidfile) from the moment it exists, so nothing created in between is lost.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until};

use super::engine::{CmdOutput, Engine};
use super::oom::kernel_logged_oom_kill;
use super::spec::{ContainerRun, ContainerSpec};
use crate::supervise::{
    Cancel, ClaimedChild, Exit, MemCapBy, OutputSink, ProcessOutcome, SpawnSpec, Usage,
};

/// How long an engine command (kill, inspect, rm) may take.
const ENGINE_CMD_LIMIT: Duration = Duration::from_secs(30);
/// After a KILL, how long to wait for the engine CLI to notice the container ended before
/// killing the CLI itself (the container is removed by id or name either way).
const KILL_WAIT: Duration = Duration::from_secs(20);
/// How often `kill` is repeated while the CLI has not returned: a container created after the
/// first `kill` (it was still being set up) is caught by the next.
const KILL_REPEAT: Duration = Duration::from_millis(500);
/// How often, and how far apart, a SIGKILLed container is inspected again for an OOM kill
/// when the kernel log cannot be read.
const OOM_NOTICE_POLLS: usize = 5;
const OOM_NOTICE_PAUSE: Duration = Duration::from_millis(100);
/// How long to keep reading output after the engine CLI exited.
const DRAIN_LIMIT: Duration = Duration::from_millis(1000);

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
        Err(msg) => failed_outcome(msg, Duration::ZERO),
    }
}

/// Run `spec` to the end. `cancel` leaving `Cancel::No` stops the container early (TERM, then
/// KILL after the grace; `Cancel::Now` kills at once). The container is removed in every case.
pub async fn run_in_container(
    spec: &ContainerSpec,
    mut cancel: watch::Receiver<Cancel>,
) -> ProcessOutcome {
    let started = Instant::now();
    let mut notes = Vec::new();
    let mut sink = OutputSink::new(spec.capture.as_ref());
    let name = spec.name();
    // The engine refuses to overwrite a cidfile (a retry of the same test, or a stale one).
    if let Some(dir) = spec.cidfile.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&spec.cidfile);

    let (mut child, mut reader, claim) = match spawn_client(spec) {
        Ok(t) => t,
        Err(msg) => return failed_outcome(msg, started.elapsed()),
    };
    let mut buf = vec![0u8; 64 * 1024];

    // Phase 1: until the CLI returns (the container ended), the deadline, or a stop request.
    let deadline = sleep_until(crate::clock::instant_after(started, spec.timeout).into());
    tokio::pin!(deadline);
    let mut status = None;
    let mut stop: Option<Exit> = None;
    if *cancel.borrow() != Cancel::No {
        stop = Some(Exit::Cancelled);
    }
    while status.is_none() && stop.is_none() {
        tokio::select! {
            r = read_some(&mut reader, &mut buf), if reader.is_some() => match r {
                Some(n) => sink.push(&buf[..n]),
                None => reader = None,
            },
            st = child.wait() => status = Some(st),
            _ = &mut deadline => stop = Some(Exit::TimedOut),
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() != Cancel::No {
                    stop = Some(Exit::Cancelled);
                }
            }
        }
    }

    // Phase 2: stop the container: TERM (forwarded to the test by the init), KILL after the
    // grace, repeated until the CLI returns; keep reading what it prints meanwhile.
    if stop.is_some() && status.is_none() {
        let mut killed = *cancel.borrow() == Cancel::Now;
        kill(spec, &name, if killed { "KILL" } else { "TERM" }).await;
        let kill_at = sleep(spec.grace);
        tokio::pin!(kill_at);
        let give_up = sleep(spec.grace.saturating_add(KILL_WAIT));
        tokio::pin!(give_up);
        let mut repeat = tokio::time::interval(KILL_REPEAT);
        repeat.tick().await;
        let mut cancel_open = true;
        while status.is_none() {
            tokio::select! {
                r = read_some(&mut reader, &mut buf), if reader.is_some() => match r {
                    Some(n) => sink.push(&buf[..n]),
                    None => reader = None,
                },
                st = child.wait() => status = Some(st),
                _ = &mut kill_at, if !killed => {
                    killed = true;
                    kill(spec, &name, "KILL").await;
                }
                _ = repeat.tick(), if killed => kill(spec, &name, "KILL").await,
                changed = cancel.changed(), if cancel_open && !killed => {
                    cancel_open = changed.is_ok();
                    if *cancel.borrow() == Cancel::Now {
                        killed = true;
                        kill(spec, &name, "KILL").await;
                    }
                }
                _ = &mut give_up => {
                    notes.push(format!(
                        "{} did not return {}s after the container was killed; killed it",
                        spec.engine.kind.name(),
                        KILL_WAIT.as_secs()
                    ));
                    let _ = child.start_kill();
                    status = Some(child.wait().await);
                }
            }
        }
    }
    drop(claim);

    // Phase 3: the CLI is gone; read what is still in the pipe.
    if reader.is_some() {
        let drain = sleep(DRAIN_LIMIT);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                r = read_some(&mut reader, &mut buf) => match r {
                    Some(n) => sink.push(&buf[..n]),
                    None => break,
                },
                _ = &mut drain => break,
            }
        }
    }
    let duration = started.elapsed();

    // Phase 4: how it ended (only the engine knows about OOM kills), then remove it.
    let target = container_ref(spec, &name);
    let mut state = match stop {
        Some(_) => None,
        None => inspect_state(&spec.engine, &target).await,
    };
    // A SIGKILLed test the engine does not call OOM-killed may still be one (see oom.rs): the
    // kernel log decides when it is readable, else the engine gets a moment to catch up.
    if let Some(s) = state
        .as_mut()
        .filter(|s| !s.oom_killed && s.exit_code == 128 + 9)
    {
        match kernel_logged_oom_kill(&target) {
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

    let kept = sink.finish();
    notes.extend(kept.log_error);
    let output = kept.output;
    let exit = match stop {
        Some(e) => e,
        None => {
            let client_code = match status {
                Some(Ok(st)) => st.code(),
                _ => None,
            };
            exit_of(client_code, state.as_ref(), &output_text(&output))
        }
    };
    ProcessOutcome {
        exit,
        duration,
        output,
        log: kept.log,
        tap: kept.tap,
        leaked: Vec::new(),
        notes,
        // The engine enforces the memory limit with a cgroup; peak and CPU are not measured.
        usage: Usage {
            mem_limit: spec.memory.map(|b| (b, MemCapBy::Cgroup)),
            oom_killed: state.as_ref().is_some_and(|s| s.oom_killed),
            ..Usage::default()
        },
    }
}

fn failed_outcome(msg: String, duration: Duration) -> ProcessOutcome {
    ProcessOutcome {
        exit: Exit::SpawnFailed(msg),
        duration,
        output: Default::default(),
        log: None,
        tap: None,
        leaked: Vec::new(),
        notes: Vec::new(),
        usage: Usage::default(),
    }
}

/// Start `ENGINE run ...` in its own process group (a Ctrl-C at the terminal is warden's to
/// handle, not the CLI's to forward), stdout and stderr into one pipe.
fn spawn_client(
    spec: &ContainerSpec,
) -> Result<(tokio::process::Child, Option<pipe::Receiver>, ClaimedChild), String> {
    let mut cmd = spec.engine.command();
    cmd.args(spec.run_args())
        .envs(spec.client_env.iter().map(|(k, v)| (k, v)));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut reader = None;
    if spec.capture.is_some() {
        let pipe_err = |e: std::io::Error| format!("cannot create output pipe: {e}");
        let (tx, rx) = pipe::pipe().map_err(pipe_err)?;
        let fd = tx.into_blocking_fd().map_err(pipe_err)?;
        let fd2 = fd.try_clone().map_err(pipe_err)?;
        cmd.stdout(Stdio::from(fd)).stderr(Stdio::from(fd2));
        reader = Some(rx);
    }
    let mut cmd = tokio::process::Command::from(cmd);
    // If warden drops the test (it never should), the CLI goes with it; the container is
    // still found by its label.
    cmd.kill_on_drop(true);
    let (child, claim) = ClaimedChild::spawn(&mut cmd)
        .map_err(|e| format!("cannot run {}: {e}", spec.engine.program.display()))?;
    Ok((child, reader, claim))
}

async fn read_some(reader: &mut Option<pipe::Receiver>, buf: &mut [u8]) -> Option<usize> {
    match reader.as_mut()?.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// The container's id once the engine wrote it, else its name.
fn container_ref(spec: &ContainerSpec, name: &str) -> String {
    std::fs::read_to_string(&spec.cidfile)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| name.to_string())
}

async fn kill(spec: &ContainerSpec, name: &str, signal: &str) {
    let target = container_ref(spec, name);
    // Fails harmlessly when the container already ended or does not exist yet.
    let _ = engine_cmd(&spec.engine, &["kill", "--signal", signal, target.as_str()]).await;
}

/// `rm -f -v`; `Some(message)` when the container could not be removed.
async fn remove(engine: &Engine, target: &str) -> Option<String> {
    let out = engine_cmd(engine, &["rm", "--force", "--volumes", target]).await;
    match out {
        Some(o) if o.success || is_no_such_container(&o) => None,
        Some(o) => Some(format!(
            "cannot remove container {target}: {}",
            o.first_error_line()
        )),
        None => Some(format!(
            "cannot remove container {target}: {} did not answer",
            engine.kind.name()
        )),
    }
}

fn is_no_such_container(o: &CmdOutput) -> bool {
    let msg = o.first_error_line().to_ascii_lowercase();
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
/// and the output (the init's own complaint when the command cannot be started). An OOM kill
/// is not an exit: it goes into the outcome's usage, as for a process.
pub(crate) fn exit_of(client_code: Option<i32>, state: Option<&State>, output: &str) -> Exit {
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
        return Exit::SpawnFailed("the container was created but never started".to_string());
    }
    let code = state.exit_code;
    // docker-init (tini) and catatonit say so when they cannot exec the command: the same
    // situation as a missing program outside a container.
    if code == 126 || code == 127 {
        if let Some(line) = output.lines().rev().find(|l| {
            l.starts_with("[FATAL tini") || (l.contains("catatonit") && l.contains("exec"))
        }) {
            return Exit::SpawnFailed(format!("cannot run the command in the container: {line}"));
        }
    }
    // A process killed by signal N shows up as 128 + N (the init and the engine both map it).
    match code {
        129..=159 => Exit::Signal(code - 128),
        _ => Exit::Code(code),
    }
}

fn output_text(out: &crate::events::CapturedOutput) -> String {
    let mut bytes = out.head.clone();
    bytes.extend_from_slice(&out.tail);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Run an engine command asynchronously; `None` when it cannot be started or takes too long.
pub(crate) async fn engine_cmd(engine: &Engine, args: &[&str]) -> Option<CmdOutput> {
    let mut cmd = tokio::process::Command::from(engine.command());
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let (child, _claim) = ClaimedChild::spawn(&mut cmd).ok()?;
    let out = tokio::time::timeout(ENGINE_CMD_LIMIT, child.wait_with_output())
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
        assert_eq!(exit_of(Some(0), Some(&state(0)), ""), Exit::Code(0));
        assert_eq!(exit_of(Some(3), Some(&state(3)), ""), Exit::Code(3));
        assert_eq!(exit_of(Some(137), Some(&state(137)), ""), Exit::Signal(9));
        assert_eq!(exit_of(Some(143), Some(&state(143)), ""), Exit::Signal(15));
        assert_eq!(exit_of(Some(200), Some(&state(200)), ""), Exit::Code(200));
        // A test's own 127 stays a failure; the init's complaint makes it a start error.
        assert_eq!(
            exit_of(Some(127), Some(&state(127)), "sh: x: not found\n"),
            Exit::Code(127)
        );
        assert_eq!(
            exit_of(
                Some(127),
                Some(&state(127)),
                "[FATAL tini (7)] exec nope failed: No such file or directory\n"
            ),
            Exit::SpawnFailed(
                "cannot run the command in the container: [FATAL tini (7)] exec nope failed: No such file or directory".into()
            )
        );
    }

    #[test]
    fn oom_and_start_errors_come_from_the_state() {
        let oom = State {
            oom_killed: true,
            ..state(0)
        };
        // The exit stays what it was; the OOM kill is reported through the usage.
        assert_eq!(exit_of(Some(0), Some(&oom), ""), Exit::Code(0));
        let failed = State {
            status: "created".into(),
            error: "exec: \"nope\": executable file not found in $PATH".into(),
            ..state(127)
        };
        assert_eq!(
            exit_of(Some(127), Some(&failed), ""),
            Exit::SpawnFailed(
                "cannot start the container: exec: \"nope\": executable file not found in $PATH"
                    .into()
            )
        );
        assert_eq!(
            exit_of(
                Some(125),
                None,
                "docker: Error response from daemon: bad mount.\n\nRun 'docker run --help' for more information\n"
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
