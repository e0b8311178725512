//! Which container engine runs the tests, and whether it can: the `docker` or `podman` CLI is
//! found in PATH, answers, and has the image locally. Everything here runs before the first test,
//! so every failure is a message for the user (exit 2), never a test result.

use std::ffi::OsStr;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long a check (`version`, `image inspect`) may take before the engine counts as not
/// answering. Generous: a cold daemon can be slow; a dead socket fails at once anyway.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// Pulling may take long; it only happens when configured.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// `--container-engine` / `[container] engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// docker if it is installed and answers, else podman.
    #[default]
    Auto,
    Docker,
    Podman,
}

impl FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(EngineChoice::Auto),
            "docker" => Ok(EngineChoice::Docker),
            "podman" => Ok(EngineChoice::Podman),
            other => Err(format!(
                "unknown engine `{other}` (expected docker, podman or auto)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

/// A container engine CLI warden talks to. Serialisable: the watchdog and `warden clean` need
/// it to remove a dead run's containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engine {
    pub kind: EngineKind,
    /// Absolute path of the `docker` / `podman` program.
    pub program: PathBuf,
    /// Set on every engine command (e.g. `DOCKER_HOST`); empty normally: the user's own
    /// environment and docker context apply.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no container engine found: {wanted} in PATH; install one or choose it with --container-engine")]
    NotFound { wanted: String },
    #[error("container engine {program} does not answer (`{name} version` failed): {detail}")]
    NotAnswering {
        program: String,
        name: &'static str,
        detail: String,
    },
    #[error("container image `{image}` is not present in {engine}'s local images and warden does not pull unless `pull = true` in [container]: build or load it first (see docs/containers.md)")]
    ImageMissing { engine: &'static str, image: String },
    #[error("cannot check container image `{image}` with {engine}: {detail}")]
    ImageCheck {
        engine: &'static str,
        image: String,
        detail: String,
    },
    #[error("cannot pull container image `{image}` with {engine}: {detail}")]
    Pull {
        engine: &'static str,
        image: String,
        detail: String,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

/// What a finished engine command said.
#[derive(Debug)]
pub struct CmdOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    /// The first non-empty line of stderr (else stdout), for messages.
    pub fn first_error_line(&self) -> String {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| match self.code {
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".to_string(),
            })
    }
}

impl Engine {
    /// Find the engine's program in `$PATH`. Does not check that it answers.
    pub fn find(choice: EngineChoice) -> Result<Engine, EngineError> {
        Engine::find_in(choice, &std::env::var_os("PATH").unwrap_or_default())
    }

    /// [`Engine::find`] over an explicit search path (`a:b:c`).
    pub fn find_in(choice: EngineChoice, path: &OsStr) -> Result<Engine, EngineError> {
        let kinds: &[EngineKind] = match choice {
            EngineChoice::Docker => &[EngineKind::Docker],
            EngineChoice::Podman => &[EngineKind::Podman],
            EngineChoice::Auto => &[EngineKind::Docker, EngineKind::Podman],
        };
        kinds
            .iter()
            .find_map(|&kind| {
                search_path(kind.name(), path).map(|program| Engine {
                    kind,
                    program,
                    env: Vec::new(),
                })
            })
            .ok_or_else(|| EngineError::NotFound {
                wanted: match choice {
                    EngineChoice::Auto => "neither `docker` nor `podman` is".to_string(),
                    other => format!("`{}` is not", engine_name(other)),
                },
            })
    }

    /// Find the engine, check that it answers, and that `image` is present (pulling it only
    /// when `pull`). With `Auto`, docker is preferred, podman used when docker is missing or
    /// does not answer.
    pub fn prepare(choice: EngineChoice, image: &str, pull: bool) -> Result<Engine, EngineError> {
        let engine = match choice {
            EngineChoice::Auto => {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let docker = Engine::find_in(EngineChoice::Docker, &path);
                match docker.and_then(|d| d.check().map(|_| d)) {
                    Ok(d) => d,
                    Err(docker_err) => match Engine::find_in(EngineChoice::Podman, &path) {
                        Ok(p) => {
                            p.check()?;
                            p
                        }
                        Err(_) if matches!(docker_err, EngineError::NotFound { .. }) => {
                            return Err(EngineError::NotFound {
                                wanted: "neither `docker` nor `podman` is".to_string(),
                            })
                        }
                        Err(_) => return Err(docker_err),
                    },
                }
            }
            other => {
                let e = Engine::find(other)?;
                e.check()?;
                e
            }
        };
        engine.ensure_image(image, pull)?;
        Ok(engine)
    }

    /// An engine command with this engine's environment; stdin closed.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// Run `args` to the end or until `timeout`, whichever is first (then it is killed).
    pub fn output<I, S>(&self, args: I, timeout: Duration) -> Result<CmdOutput, EngineError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_timeout(cmd, timeout).map_err(|source| EngineError::Spawn {
            program: self.program.display().to_string(),
            source,
        })
    }

    /// Check that the engine answers; returns the server version it reports.
    pub fn check(&self) -> Result<String, EngineError> {
        let not_answering = |detail: String| EngineError::NotAnswering {
            program: self.program.display().to_string(),
            name: self.kind.name(),
            detail,
        };
        let out = self
            .output(["version", "--format", "json"], CHECK_TIMEOUT)
            .map_err(|e| not_answering(e.to_string()))?;
        if !out.success {
            return Err(not_answering(out.first_error_line()));
        }
        // docker: {"Server":{"Version":..}}; podman: {"Server":{"Version":..}} or {"Version":..}.
        let json: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .map_err(|e| not_answering(format!("unexpected answer to `version`: {e}")))?;
        let version = json
            .pointer("/Server/Version")
            .or_else(|| json.pointer("/Version"))
            .and_then(|v| v.as_str());
        match version {
            Some(v) => Ok(v.to_string()),
            // docker prints the client part and exit 0 in some versions when the server is gone.
            None => Err(not_answering("no server in the answer to `version`".into())),
        }
    }

    /// Whether `image` is in the engine's local store.
    pub fn image_present(&self, image: &str) -> Result<bool, EngineError> {
        let out = self.output(
            ["image", "inspect", "--format", "{{.Id}}", image],
            CHECK_TIMEOUT,
        )?;
        if out.success {
            return Ok(true);
        }
        let msg = out.first_error_line();
        let lower = msg.to_ascii_lowercase();
        // docker: "No such image"; podman: "image not known" / "failed to find image".
        if lower.contains("no such image")
            || lower.contains("image not known")
            || lower.contains("failed to find image")
        {
            return Ok(false);
        }
        Err(EngineError::ImageCheck {
            engine: self.kind.name(),
            image: image.to_string(),
            detail: msg,
        })
    }

    /// Make sure `image` is present: never pulls unless `pull`.
    pub fn ensure_image(&self, image: &str, pull: bool) -> Result<(), EngineError> {
        if self.image_present(image)? {
            return Ok(());
        }
        if !pull {
            return Err(EngineError::ImageMissing {
                engine: self.kind.name(),
                image: image.to_string(),
            });
        }
        let out = self.output(["pull", "--quiet", image], PULL_TIMEOUT)?;
        if !out.success {
            return Err(EngineError::Pull {
                engine: self.kind.name(),
                image: image.to_string(),
                detail: out.first_error_line(),
            });
        }
        Ok(())
    }
}

fn engine_name(choice: EngineChoice) -> &'static str {
    match choice {
        EngineChoice::Docker => "docker",
        EngineChoice::Podman => "podman",
        EngineChoice::Auto => "docker or podman",
    }
}

/// The first executable `name` in the `:`-separated `path`.
fn search_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Run `cmd` with stdout and stderr collected, killed after `timeout`.
pub(crate) fn run_with_timeout(mut cmd: Command, timeout: Duration) -> std::io::Result<CmdOutput> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    // Readers in threads: a chatty command must not block on a full pipe while we wait.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_thread = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_thread = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = crate::clock::instant_after(Instant::now(), timeout);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            timed_out = true;
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let mut stderr = err_thread.join().unwrap_or_default();
    if timed_out {
        stderr = format!(
            "no answer within {}s{}{stderr}",
            timeout.as_secs(),
            if stderr.is_empty() { "" } else { ": " }
        );
    }
    Ok(CmdOutput {
        success: status.success() && !timed_out,
        code: status.code(),
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::testing::{docker, test_image};

    #[test]
    fn choices_parse_and_unknown_is_named() {
        assert_eq!("auto".parse::<EngineChoice>(), Ok(EngineChoice::Auto));
        assert_eq!("podman".parse::<EngineChoice>(), Ok(EngineChoice::Podman));
        assert_eq!(
            "lxc".parse::<EngineChoice>().unwrap_err(),
            "unknown engine `lxc` (expected docker, podman or auto)"
        );
    }

    #[test]
    fn missing_engine_is_named() {
        let empty = tempfile::tempdir().unwrap();
        let e = Engine::find_in(EngineChoice::Podman, empty.path().as_os_str()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no container engine found: `podman` is not in PATH; install one or choose it with --container-engine"
        );
        let e = Engine::find_in(EngineChoice::Auto, empty.path().as_os_str()).unwrap_err();
        assert!(
            e.to_string()
                .contains("neither `docker` nor `podman` is in PATH"),
            "{e}"
        );
    }

    #[test]
    fn non_executable_file_is_not_an_engine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker"), "not a program").unwrap();
        assert!(Engine::find_in(EngineChoice::Docker, dir.path().as_os_str()).is_err());
    }

    #[test]
    fn real_engine_answers_and_knows_its_images() {
        let d = docker();
        assert!(!d.check().unwrap().is_empty());
        let image = test_image();
        assert!(d.image_present(&image).unwrap());
        d.ensure_image(&image, false).unwrap();
        let missing = "warden-test-no-such-image:0";
        assert!(!d.image_present(missing).unwrap());
        let e = d.ensure_image(missing, false).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "container image `warden-test-no-such-image:0` is not present in docker's local images"
            ),
            "{e}"
        );
    }

    #[test]
    fn engine_that_does_not_answer_is_named() {
        let mut d = docker();
        let dir = tempfile::tempdir().unwrap();
        d.env.push((
            "DOCKER_HOST".into(),
            format!("unix://{}/no.sock", dir.path().display()),
        ));
        let e = d.check().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "container engine {} does not answer (`docker version` failed): ",
                d.program.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("no.sock"), "{msg}");
    }

    #[test]
    fn timeout_kills_the_command() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let started = Instant::now();
        let out = run_with_timeout(cmd, Duration::from_millis(200)).unwrap();
        assert!(!out.success);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            out.stderr.starts_with("no answer within 0s"),
            "{}",
            out.stderr
        );
    }
}
