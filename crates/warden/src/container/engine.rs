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

/// An engine name warden does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown engine `{0}` (expected docker, podman or auto)")]
pub struct UnknownEngine(pub String);

impl FromStr for EngineChoice {
    type Err = UnknownEngine;
    fn from_str(s: &str) -> Result<Self, UnknownEngine> {
        match s {
            "auto" => Ok(EngineChoice::Auto),
            "docker" => Ok(EngineChoice::Docker),
            "podman" => Ok(EngineChoice::Podman),
            other => Err(UnknownEngine(other.to_string())),
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
    /// Set on every engine command (e.g. `DOCKER_HOST`). [`Engine::prepare`] records the
    /// variables that choose the engine's endpoint, so that `warden clean` run later from
    /// another shell reaches the same one; otherwise the user's own environment applies.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// What the engine said about itself when it was checked; defaults until then.
    #[serde(default)]
    pub facts: EngineFacts,
}

/// What [`Engine::check`] learned: enough to run podman as it is (local or remote, rootful
/// or rootless) and to say which engine a run uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineFacts {
    /// The version of what runs the containers: docker's daemon, podman itself or its service.
    pub version: String,
    /// Containers are made by a service: always for docker; podman with `--remote`,
    /// `CONTAINER_HOST` or `CONTAINER_CONNECTION`.
    pub remote: bool,
    /// The engine runs as a normal user (user namespaces).
    pub rootless: bool,
    /// The cgroup version the engine manages containers with: 1 or 2, 0 when it did not say.
    pub cgroup_version: u8,
}

/// Variables that choose which daemon or service an engine CLI talks to.
const ENDPOINT_VARS: [(EngineKind, &str); 4] = [
    (EngineKind::Docker, "DOCKER_HOST"),
    (EngineKind::Docker, "DOCKER_CONTEXT"),
    (EngineKind::Podman, "CONTAINER_HOST"),
    (EngineKind::Podman, "CONTAINER_CONNECTION"),
];

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no container engine found: {wanted} in PATH")]
    NotFound { wanted: String },
    #[error("container engine {program} does not answer (`{command}` failed): {detail}")]
    NotAnswering {
        program: String,
        /// The command that failed, e.g. `docker version`.
        command: &'static str,
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

/// Why what an engine said about itself (`docker version`, `podman info`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("unexpected answer to `{asked}`: {source}")]
    NotJson {
        /// The engine command, e.g. `version`.
        asked: &'static str,
        source: serde_json::Error,
    },
    #[error("no {missing} in the answer to `{asked}`")]
    Missing {
        asked: &'static str,
        /// What the answer should hold, e.g. `server`.
        missing: &'static str,
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
                    facts: EngineFacts::default(),
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
    /// does not answer. The engine returned carries its [`EngineFacts`] and the endpoint
    /// variables of the environment.
    pub fn prepare(choice: EngineChoice, image: &str, pull: bool) -> Result<Engine, EngineError> {
        let checked = |mut e: Engine| -> Result<Engine, EngineError> {
            e.facts = e.check()?;
            Ok(e)
        };
        let mut engine = match choice {
            EngineChoice::Auto => {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let docker = Engine::find_in(EngineChoice::Docker, &path);
                match docker.and_then(checked) {
                    Ok(d) => d,
                    Err(docker_err) => match Engine::find_in(EngineChoice::Podman, &path) {
                        Ok(p) => checked(p)?,
                        Err(_) if matches!(docker_err, EngineError::NotFound { .. }) => {
                            return Err(EngineError::NotFound {
                                wanted: "neither `docker` nor `podman` is".to_string(),
                            })
                        }
                        Err(_) => return Err(docker_err),
                    },
                }
            }
            other => checked(Engine::find(other)?)?,
        };
        engine.ensure_image(image, pull)?;
        engine.record_endpoint(|k| std::env::var(k).ok());
        Ok(engine)
    }

    /// Keep the endpoint variables (`DOCKER_HOST`, `CONTAINER_HOST`, ...) that `lookup` finds
    /// and [`Engine::env`] does not set already.
    fn record_endpoint(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for (kind, var) in ENDPOINT_VARS {
            if kind != self.kind || self.env.iter().any(|(k, _)| k == var) {
                continue;
            }
            if let Some(value) = lookup(var).filter(|v| !v.is_empty()) {
                self.env.push((var.to_string(), value));
            }
        }
    }

    /// `podman 4.3.1 (/usr/bin/podman, local, rootless, cgroup v1)`: which engine a run uses,
    /// for `-v`. Only what the engine was asked is said (docker's daemon is not asked how it
    /// runs).
    pub fn describe(&self) -> String {
        let f = &self.facts;
        let mut parts = vec![self.program.display().to_string()];
        if self.kind == EngineKind::Podman {
            parts.push(if f.remote { "remote" } else { "local" }.to_string());
            parts.push(if f.rootless { "rootless" } else { "rootful" }.to_string());
        }
        if f.cgroup_version != 0 {
            parts.push(format!("cgroup v{}", f.cgroup_version));
        }
        format!("{} {} ({})", self.kind.name(), f.version, parts.join(", "))
    }

    /// What this engine cannot do that the run's configuration asks for: said once at the
    /// start of a run (the resource limits rootless podman on cgroup v1 drops).
    pub fn warnings(&self, config: &super::config::ContainerConfig) -> Vec<String> {
        let mut dropped = Vec::new();
        if let Some(n) = config.pids_limit {
            dropped.push(format!("pids_limit = {n}"));
        }
        if let Some(c) = config.cpus {
            dropped.push(format!("cpus = {c}"));
        }
        if super::podman::enforces_resource_limits(self) || dropped.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "rootless podman on cgroup v1 cannot enforce resource limits: [container] {} not applied (set pids_limit = 0 to silence this)",
            dropped.join(", ")
        )]
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

    /// Check that the engine answers, and learn what it is: docker through `version` (its
    /// daemon must answer), podman through `info` (local podman has no server to ask).
    pub fn check(&self) -> Result<EngineFacts, EngineError> {
        let (args, command): (&[&str], _) = match self.kind {
            EngineKind::Docker => (&["version", "--format", "json"], "docker version"),
            EngineKind::Podman => (&["info", "--format", "json"], "podman info"),
        };
        let not_answering = |detail: String| EngineError::NotAnswering {
            program: self.program.display().to_string(),
            command,
            detail,
        };
        let out = self
            .output(args, CHECK_TIMEOUT)
            .map_err(|e| not_answering(e.to_string()))?;
        if !out.success {
            return Err(not_answering(self.error_line(&out)));
        }
        match self.kind {
            EngineKind::Docker => docker_facts(&out.stdout),
            EngineKind::Podman => super::podman::facts_from_info(&out.stdout),
        }
        .map_err(|e| not_answering(e.to_string()))
    }

    /// The line of a failed engine command that says why.
    pub fn error_line(&self, out: &CmdOutput) -> String {
        match self.kind {
            EngineKind::Docker => out.first_error_line(),
            EngineKind::Podman => super::podman::error_line(out),
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
        let msg = self.error_line(&out);
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
                detail: self.error_line(&out),
            });
        }
        Ok(())
    }
}

/// docker's answer to `version --format json`: the daemon's version. docker is always a
/// client of its daemon; whether that runs rootless is not asked (only podman's matters).
fn docker_facts(stdout: &str) -> Result<EngineFacts, AnswerError> {
    let json: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|source| AnswerError::NotJson {
            asked: "version",
            source,
        })?;
    match json.pointer("/Server/Version").and_then(|v| v.as_str()) {
        Some(v) => Ok(EngineFacts {
            version: v.to_string(),
            remote: true,
            ..EngineFacts::default()
        }),
        // docker prints the client part and exit 0 in some versions when the server is gone.
        None => Err(AnswerError::Missing {
            asked: "version",
            missing: "server",
        }),
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
    use crate::container::testing::{per_engine, test_image};

    per_engine!(
        sync real_engine_answers_and_knows_its_images,
        engine_that_does_not_answer_is_named,
    );

    #[test]
    fn choices_parse_and_unknown_is_named() {
        assert_eq!("auto".parse::<EngineChoice>(), Ok(EngineChoice::Auto));
        assert_eq!("podman".parse::<EngineChoice>(), Ok(EngineChoice::Podman));
        let e = "lxc".parse::<EngineChoice>().unwrap_err();
        assert_eq!(e, UnknownEngine("lxc".into()));
        assert_eq!(
            e.to_string(),
            "unknown engine `lxc` (expected docker, podman or auto)"
        );
    }

    #[test]
    fn missing_engine_is_named() {
        let empty = tempfile::tempdir().unwrap();
        let e = Engine::find_in(EngineChoice::Podman, empty.path().as_os_str()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no container engine found: `podman` is not in PATH"
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

    fn real_engine_answers_and_knows_its_images(d: Engine) {
        let facts = d.check().unwrap();
        assert!(!facts.version.is_empty());
        assert_eq!(facts, d.facts);
        // docker is always a client of its daemon; podman says whether it is one.
        assert!(facts.remote || d.kind == EngineKind::Podman);
        if d.kind == EngineKind::Podman {
            // These tests run podman as they run themselves.
            // SAFETY: geteuid has no preconditions.
            assert_eq!(facts.rootless, unsafe { libc::geteuid() } != 0);
            assert!(facts.cgroup_version == 1 || facts.cgroup_version == 2);
        }
        let image = test_image();
        assert!(d.image_present(&image).unwrap());
        d.ensure_image(&image, false).unwrap();
        let missing = "warden-test-no-such-image:0";
        assert!(!d.image_present(missing).unwrap());
        let e = d.ensure_image(missing, false).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "container image `warden-test-no-such-image:0` is not present in {}'s local images",
                d.kind.name()
            )),
            "{e}"
        );
    }

    /// A daemon or service that is not there: named, with the socket, whichever engine.
    fn engine_that_does_not_answer_is_named(mut d: Engine) {
        let dir = tempfile::tempdir().unwrap();
        let (var, command) = match d.kind {
            EngineKind::Docker => ("DOCKER_HOST", "docker version"),
            EngineKind::Podman => ("CONTAINER_HOST", "podman info"),
        };
        d.env.retain(|(k, _)| k != var);
        d.env.push((
            var.into(),
            format!("unix://{}/no.sock", dir.path().display()),
        ));
        let e = d.check().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "container engine {} does not answer (`{command}` failed): ",
                d.program.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("no.sock"), "{msg}");
    }

    #[test]
    fn the_endpoint_of_the_engine_is_recorded() {
        let mut podman = Engine {
            kind: EngineKind::Podman,
            program: "/usr/bin/podman".into(),
            env: vec![("CONTAINER_CONNECTION".into(), "mine".into())],
            facts: EngineFacts::default(),
        };
        let env = |k: &str| match k {
            "CONTAINER_HOST" => Some("unix:///run/x.sock".to_string()),
            "CONTAINER_CONNECTION" => Some("theirs".to_string()),
            "DOCKER_HOST" => Some("tcp://elsewhere".to_string()),
            _ => None,
        };
        podman.record_endpoint(env);
        assert_eq!(
            podman.env,
            [
                ("CONTAINER_CONNECTION".to_string(), "mine".to_string()),
                (
                    "CONTAINER_HOST".to_string(),
                    "unix:///run/x.sock".to_string()
                )
            ]
        );
        let mut docker = Engine {
            kind: EngineKind::Docker,
            env: Vec::new(),
            ..podman
        };
        docker.record_endpoint(env);
        assert_eq!(
            docker.env,
            [("DOCKER_HOST".to_string(), "tcp://elsewhere".to_string())]
        );
    }

    #[test]
    fn describe_says_which_engine_and_how() {
        let podman = Engine {
            kind: EngineKind::Podman,
            program: "/usr/bin/podman".into(),
            env: Vec::new(),
            facts: EngineFacts {
                version: "4.3.1".into(),
                remote: false,
                rootless: true,
                cgroup_version: 1,
            },
        };
        assert_eq!(
            podman.describe(),
            "podman 4.3.1 (/usr/bin/podman, local, rootless, cgroup v1)"
        );
        let docker = Engine {
            kind: EngineKind::Docker,
            program: "/usr/bin/docker".into(),
            env: Vec::new(),
            facts: EngineFacts {
                version: "20.10.24".into(),
                remote: true,
                ..EngineFacts::default()
            },
        };
        assert_eq!(docker.describe(), "docker 20.10.24 (/usr/bin/docker)");
    }

    #[test]
    fn rootless_podman_on_cgroup_v1_warns_of_dropped_limits_once() {
        use crate::container::ContainerConfig;
        let mut podman = Engine {
            kind: EngineKind::Podman,
            program: "/usr/bin/podman".into(),
            env: Vec::new(),
            facts: EngineFacts {
                version: "4.3.1".into(),
                remote: false,
                rootless: true,
                cgroup_version: 1,
            },
        };
        let config = ContainerConfig {
            cpus: Some(1.5),
            ..ContainerConfig::default()
        };
        assert_eq!(
            podman.warnings(&config),
            ["rootless podman on cgroup v1 cannot enforce resource limits: [container] pids_limit = 512, cpus = 1.5 not applied (set pids_limit = 0 to silence this)"]
        );
        let none = ContainerConfig {
            pids_limit: None,
            ..ContainerConfig::default()
        };
        assert!(podman.warnings(&none).is_empty());
        podman.facts.cgroup_version = 2;
        assert!(podman.warnings(&config).is_empty());
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
