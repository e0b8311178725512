//! What one test's container looks like: the hardened `run` command line, its name and labels,
//! and how a test prepared for a plain process (host paths, host `TMPDIR`) is moved inside.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::config::ContainerConfig;
use super::engine::{Engine, EngineKind};
use super::podman;
use crate::supervise::{CaptureSpec, Network, SpawnSpec};

/// Label carrying the run id: how the watchdog and `warden clean` find a run's containers.
pub const RUN_LABEL: &str = "warden.run";
/// Label carrying the test id.
pub const TEST_LABEL: &str = "warden.test";
/// Label carrying the attempt number.
pub const ATTEMPT_LABEL: &str = "warden.attempt";
/// Label naming the warden process that started the container (see [`this_owner`]): how
/// `warden clean` tells containers of dead runs from live ones without trusting any registry.
pub const OWNER_LABEL: &str = "warden.owner";

/// Longest part of a container name taken from the test id; the rest is the run id and a hash.
const NAME_TEST_PART: usize = 60;

/// Everything needed to run one attempt of one test in a container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub engine: Engine,
    pub config: Arc<ContainerConfig>,
    pub image: String,
    pub run_id: String,
    pub test_id: String,
    pub attempt: u32,
    /// Host directory mounted at `config.workspace`.
    pub project: PathBuf,
    /// The command, with paths as seen inside the container.
    pub argv: Vec<String>,
    /// Working directory inside the container.
    pub workdir: String,
    /// The test's environment inside the container (`-e`), in order; later entries win.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub grace: Duration,
    pub capture: Option<CaptureSpec>,
    /// `--memory`: `--test-mem-limit`, else `[container] memory`.
    pub memory: Option<u64>,
    /// `--pids-limit`: `--test-pids-limit`, else `[container] pids_limit`.
    pub pids_limit: Option<u64>,
    /// `--safe-mode`: the same rlimits as for a process, as `--ulimit`s.
    pub safe_mode: bool,
    /// `--network`: `none` for a test asking for a private network (`@net: private`, which a
    /// container with no network already is), else `[container] network`.
    pub network: String,
    /// The engine writes the container id here as soon as it is created.
    pub cidfile: PathBuf,
    /// Added to the environment of the engine CLI process itself (the run's token, so that the
    /// process sweep of a dead run finds the client too).
    pub client_env: Vec<(String, String)>,
    /// `--coverage`: the test's coverage directory, mounted writable at the same path, where
    /// the coverage variables point.
    pub coverage_dir: Option<PathBuf>,
    /// `format = "junit"`: the directory of the report the test writes (`{junit}`,
    /// `$WARDEN_JUNIT`), mounted writable at the same path so the path means the same inside
    /// and out, and warden reads the report where the test wrote it.
    pub junit_dir: Option<PathBuf>,
}

impl ContainerSpec {
    /// `warden-<run>-<test>-<hash>-<attempt>`: readable in `docker ps`, unique per attempt
    /// (the hash tells apart test ids that sanitise alike), valid as a container name.
    pub fn name(&self) -> String {
        container_name(&self.run_id, &self.test_id, self.attempt)
    }

    /// The arguments after the engine program: `run ... IMAGE ARGV...`.
    pub fn run_args(&self) -> Vec<String> {
        let c = &*self.config;
        let mut a: Vec<String> = vec![
            "run".into(),
            "--rm=false".into(),
            "--name".into(),
            self.name(),
            "--cidfile".into(),
            self.cidfile.to_string_lossy().into_owned(),
            "--label".into(),
            format!("{RUN_LABEL}={}", self.run_id),
            "--label".into(),
            format!("{TEST_LABEL}={}", self.test_id),
            "--label".into(),
            format!("{ATTEMPT_LABEL}={}", self.attempt),
            "--label".into(),
            format!("{OWNER_LABEL}={}", this_owner()),
            // The image was checked (or pulled, when configured) before the run.
            "--pull".into(),
            "never".into(),
            // Output is streamed to warden; a second copy in the engine's log store would only
            // cost disk for a test that prints gigabytes.
            "--log-driver".into(),
            "none".into(),
            "--network".into(),
            self.network.clone(),
            "--cap-drop".into(),
            "ALL".into(),
        ];
        for cap in &c.cap_add {
            a.extend(["--cap-add".into(), cap.clone()]);
        }
        if c.read_only {
            a.push("--read-only".into());
        }
        for t in &c.tmpfs {
            a.extend(["--tmpfs".into(), t.clone()]);
        }
        if c.no_new_privileges {
            a.extend(["--security-opt".into(), "no-new-privileges".into()]);
        }
        if let Some(user) = &c.user {
            a.extend(["--user".into(), user.clone()]);
        }
        // Where the engine would drop them with a warning in every test's output, they are
        // left out (and the run says so once, see `Engine::warnings`; caps are refused in
        // `spec_for`).
        let limits = podman::enforces_resource_limits(&self.engine);
        if let Some(n) = self.pids_limit.filter(|_| limits) {
            a.extend(["--pids-limit".into(), n.to_string()]);
        }
        if self.safe_mode {
            // No core files, files up to 1 GiB, 4096 open files (SPEC §6).
            for limit in ["core=0", "fsize=1073741824", "nofile=4096"] {
                a.extend(["--ulimit".into(), limit.into()]);
            }
        }
        if self.engine.kind == EngineKind::Podman {
            a.extend(podman::ulimit_args(self.safe_mode, &c.extra_args));
        }
        if let Some(bytes) = self.memory.filter(|_| limits) {
            // Swap equal to the limit: no swap, so the limit is the limit.
            a.extend([
                "--memory".into(),
                bytes.to_string(),
                "--memory-swap".into(),
                bytes.to_string(),
            ]);
        }
        if let Some(cpus) = c.cpus.filter(|_| limits) {
            a.extend(["--cpus".into(), format!("{cpus}")]);
        }
        if c.init {
            a.push("--init".into());
        }
        a.extend([
            "--mount".into(),
            bind_mount(&self.project, &c.workspace, c.workspace_read_only),
        ]);
        for m in &c.mounts {
            a.extend([
                "--mount".into(),
                bind_mount(&m.source, &m.target, m.read_only),
            ]);
        }
        for dir in self.coverage_dir.iter().chain(&self.junit_dir) {
            a.extend([
                "--mount".into(),
                bind_mount(dir, &dir.to_string_lossy(), false),
            ]);
        }
        a.extend(["--workdir".into(), self.workdir.clone()]);
        for (k, v) in dedup_env(&self.env) {
            a.extend(["--env".into(), format!("{k}={v}")]);
        }
        a.extend(c.extra_args.iter().cloned());
        a.push(self.image.clone());
        a.extend(self.argv.iter().cloned());
        a
    }
}

/// Why a test cannot run in a container of this run; it is then an `error` result.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The engine would drop the test's memory or pids cap, and a cap that does not hold is
    /// worse than none.
    #[error(
        "rootless podman on cgroup v1 cannot enforce a per-test memory or pids limit (it ignores \
         resource limits there); run these tests with docker or rootful podman, on a cgroup v2 \
         host, or without the limit"
    )]
    CapUnenforceable,
    /// Only the project is mounted: a test run from elsewhere would not find its files.
    #[error(
        "{test_id}: the test's directory {} is outside the project {} that is mounted in the container",
        dir.display(),
        project.display()
    )]
    OutsideProject {
        test_id: String,
        dir: PathBuf,
        project: PathBuf,
    },
}

/// What every test of a container run shares.
#[derive(Debug, Clone)]
pub struct ContainerRun {
    pub engine: Engine,
    pub config: Arc<ContainerConfig>,
    pub image: String,
    pub run_id: String,
    /// The project root on the host, mounted at `config.workspace`.
    pub project: PathBuf,
    /// Where the cidfiles go (created on demand).
    pub cid_dir: PathBuf,
    /// `--coverage`: `<run dir>/coverage`; each test's own directory under it is mounted.
    pub coverage_root: Option<PathBuf>,
}

impl ContainerRun {
    /// The container version of a test prepared to run as a process: host paths under the
    /// project become paths under the workspace, `TMPDIR` is the container's `/tmp`, and the
    /// `[container] env` comes first (the suite's and warden's variables win over it).
    pub fn spec_for(
        &self,
        process: &SpawnSpec,
        test_id: &str,
        attempt: u32,
    ) -> Result<ContainerSpec, SpecError> {
        let workspace = &self.config.workspace;
        let memory = process.limits.mem_bytes.or(self.config.memory);
        if (memory.is_some() || process.limits.pids.is_some())
            && !podman::enforces_resource_limits(&self.engine)
        {
            return Err(SpecError::CapUnenforceable);
        }
        let workdir = inside(&process.cwd, &self.project, workspace).ok_or_else(|| {
            SpecError::OutsideProject {
                test_id: test_id.to_string(),
                dir: process.cwd.clone(),
                project: self.project.clone(),
            }
        })?;
        let junit_dir = process
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == crate::cases::JUNIT_ENV)
            .and_then(|(_, v)| Path::new(v).parent())
            .map(Path::to_path_buf);
        let argv = process
            .argv
            .iter()
            .map(|arg| {
                let p = Path::new(arg);
                // The report's path is mounted where it is: moving it under the workspace
                // would point the test at the read-only project instead.
                let mounted = junit_dir.as_deref().is_some_and(|d| p.starts_with(d));
                match p.is_absolute() && !mounted {
                    true => inside(p, &self.project, workspace).unwrap_or_else(|| arg.clone()),
                    false => arg.clone(),
                }
            })
            .collect();
        let mut env: Vec<(String, String)> = self
            .config
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(process.env.iter().filter(|(k, _)| k != "TMPDIR").cloned());
        env.push(("TMPDIR".into(), "/tmp".into()));
        let name = container_name(&self.run_id, test_id, attempt);
        Ok(ContainerSpec {
            engine: self.engine.clone(),
            config: self.config.clone(),
            image: self.image.clone(),
            run_id: self.run_id.clone(),
            test_id: test_id.to_string(),
            attempt,
            project: self.project.clone(),
            argv,
            workdir,
            env,
            timeout: process.timeout,
            grace: process.grace,
            capture: process.capture.clone(),
            memory,
            pids_limit: process
                .limits
                .pids
                .or(self.config.pids_limit.map(u64::from)),
            safe_mode: process.limits.safe_mode,
            network: network_for(process.net, &self.config),
            cidfile: self.cid_dir.join(format!("{name}.cid")),
            client_env: crate::run_token::test_env(&self.run_id, test_id).into(),
            coverage_dir: self
                .coverage_root
                .as_ref()
                .map(|root| root.join(crate::state::test_slug(test_id))),
            junit_dir,
        })
    }
}

/// The engine's `--network` for a test that asks for `net`: a private network is `none` (the
/// container's own loopback only), whatever `[container] network` says.
pub fn network_for(net: Network, config: &ContainerConfig) -> String {
    match net {
        Network::Private => "none".to_string(),
        Network::Host => config.network.clone(),
    }
}

/// `<boot id>/<pid>/<start time>` of this process: unique on this machine across reboots and
/// pid reuse (SPEC §6: liveness by pid and start time, never by name).
pub fn this_owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id() as i32;
        format!(
            "{}/{pid}/{}",
            boot_id().unwrap_or_default(),
            crate::supervise::os::start_time(pid).unwrap_or(0)
        )
    })
}

/// The kernel's id of the current boot, when it has one.
pub(crate) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `host` as seen inside the container, when it is `project` or below it.
fn inside(host: &Path, project: &Path, workspace: &str) -> Option<String> {
    let rel = host.strip_prefix(project).ok()?;
    let mut out = workspace.to_string();
    for part in rel.components() {
        match part {
            std::path::Component::Normal(s) => {
                out.push('/');
                out.push_str(s.to_str()?);
            }
            // `..` or `.` would step outside what the lexical prefix check promised.
            _ => return None,
        }
    }
    Some(out)
}

/// A `--mount` value; fields with `,` or `"` are CSV-quoted, as the engines parse it as CSV.
fn bind_mount(source: &Path, target: &str, read_only: bool) -> String {
    let quote = |field: String| {
        if field.contains(',') || field.contains('"') {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field
        }
    };
    let mut s = format!(
        "type=bind,{},{}",
        quote(format!("source={}", source.display())),
        quote(format!("target={target}"))
    );
    if read_only {
        s.push_str(",readonly");
    }
    s
}

/// Keeps the last value of each variable, in first-seen order.
fn dedup_env(env: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (k, v) in env {
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// The container name of one attempt of one test (see [`ContainerSpec::name`]).
pub fn container_name(run_id: &str, test_id: &str, attempt: u32) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
                _ => '_',
            })
            .collect()
    };
    let mut test: String = clean(test_id);
    if test.len() > NAME_TEST_PART {
        // Keep the end: file names tell tests apart better than their directories.
        test = test[test.len() - NAME_TEST_PART..].to_string();
    }
    format!(
        "warden-{}-{}-{:08x}-{attempt}",
        clean(run_id),
        test,
        fnv1a(test_id.as_bytes()) as u32
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::Mount;
    use crate::supervise::{Limits, TapMode};

    fn run(config: ContainerConfig) -> ContainerRun {
        ContainerRun {
            engine: Engine {
                kind: EngineKind::Docker,
                program: "/usr/bin/docker".into(),
                env: Vec::new(),
                facts: Default::default(),
            },
            config: Arc::new(config),
            image: "img:1".into(),
            run_id: "20260101T000000Z-abc123".into(),
            project: "/home/u/proj".into(),
            cid_dir: "/tmp/warden-x/containers".into(),
            coverage_root: None,
        }
    }

    fn process() -> SpawnSpec {
        SpawnSpec {
            argv: vec![
                "sh".into(),
                "/home/u/proj/test/unit/a b_test.sh".into(),
                "/etc/hosts".into(),
                "rel".into(),
            ],
            cwd: "/home/u/proj/test/unit".into(),
            env: vec![
                ("A".into(), "suite".into()),
                ("WARDEN_RUN_ID".into(), "20260101T000000Z-abc123".into()),
                ("TMPDIR".into(), "/tmp/warden-x/w0".into()),
            ],
            timeout: Duration::from_secs(3),
            grace: Duration::from_secs(1),
            capture: Some(CaptureSpec {
                log_path: None,
                tap: TapMode::Detect,
                echo: None,
            }),
            cgroup: None,
            token: Vec::new(),
            mark: None,
            controllers: None,
            limits: Limits::default(),
            net: crate::supervise::Network::Host,
        }
    }

    /// The value following `flag` each time it appears.
    fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn coverage_mounts_the_tests_own_dir_writable_at_the_same_path() {
        let mut r = run(ContainerConfig::default());
        let a = r
            .spec_for(&process(), "test/a b_test.sh", 1)
            .unwrap()
            .run_args();
        assert!(!values(&a, "--mount").iter().any(|m| m.contains("coverage")));
        r.coverage_root = Some("/home/u/proj/.warden/runs/r1/coverage".into());
        let a = r
            .spec_for(&process(), "test/a b_test.sh", 1)
            .unwrap()
            .run_args();
        let dir = "/home/u/proj/.warden/runs/r1/coverage/test__a b_test.sh";
        assert!(
            values(&a, "--mount")
                .contains(&format!("type=bind,source={dir},target={dir}").as_str()),
            "{a:?}"
        );
    }

    #[test]
    fn junit_report_dir_is_mounted_writable_at_the_same_path() {
        let r = run(ContainerConfig::default());
        let a = r.spec_for(&process(), "t", 1).unwrap().run_args();
        assert_eq!(values(&a, "--mount").len(), 1, "{a:?}");
        // In the project's state dir, which the read-only workspace mount also shows.
        let dir = "/home/u/proj/.warden/runs/r1/logs/t__a b_test.sh.junit";
        let report = format!("{dir}/junit.xml");
        let mut p = process();
        p.argv = vec![
            "/home/u/proj/t/a b_test.sh".into(),
            report.clone(),
            format!("--junitxml={report}"),
        ];
        p.env.push((crate::cases::JUNIT_ENV.into(), report.clone()));
        let a = r.spec_for(&p, "t/a b_test.sh", 1).unwrap().run_args();
        assert_eq!(
            values(&a, "--mount"),
            [
                "type=bind,source=/home/u/proj,target=/workspace,readonly",
                &format!("type=bind,source={dir},target={dir}"),
            ]
        );
        let image_at = a.iter().position(|x| x == "img:1").unwrap();
        assert_eq!(
            a[image_at + 1..],
            [
                "/workspace/t/a b_test.sh".to_string(),
                report.clone(),
                format!("--junitxml={report}"),
            ]
        );
        assert!(
            values(&a, "--env").contains(&format!("WARDEN_JUNIT={report}").as_str()),
            "{a:?}"
        );
    }

    #[test]
    fn default_command_line_is_hardened() {
        let mut config = ContainerConfig::default();
        config.env.insert("A".into(), "container".into());
        config.env.insert("B".into(), "container".into());
        let spec = run(config)
            .spec_for(&process(), "test/unit/a b_test.sh", 2)
            .unwrap();
        let a = spec.run_args();
        assert_eq!(a[0], "run");
        for flag in ["--rm=false", "--read-only", "--init"] {
            assert!(a.iter().any(|x| x == flag), "{flag} missing: {a:?}");
        }
        assert_eq!(values(&a, "--network"), ["none"]);
        assert_eq!(values(&a, "--cap-drop"), ["ALL"]);
        assert!(values(&a, "--cap-add").is_empty());
        assert_eq!(values(&a, "--security-opt"), ["no-new-privileges"]);
        assert_eq!(values(&a, "--user"), ["65534:65534"]);
        assert_eq!(values(&a, "--pids-limit"), ["512"]);
        assert_eq!(
            values(&a, "--tmpfs"),
            ["/tmp:rw,nosuid,nodev,noexec,mode=1777"]
        );
        assert!(values(&a, "--memory").is_empty() && values(&a, "--cpus").is_empty());
        assert_eq!(
            values(&a, "--mount"),
            ["type=bind,source=/home/u/proj,target=/workspace,readonly"]
        );
        assert_eq!(values(&a, "--workdir"), ["/workspace/test/unit"]);
        assert_eq!(
            values(&a, "--label"),
            [
                "warden.run=20260101T000000Z-abc123",
                "warden.test=test/unit/a b_test.sh",
                "warden.attempt=2",
                &format!("warden.owner={}", this_owner()),
            ]
        );
        let me = std::process::id().to_string();
        assert_eq!(this_owner().split('/').nth(1), Some(me.as_str()));
        assert_eq!(values(&a, "--name"), [spec.name().as_str()]);
        assert_eq!(
            values(&a, "--cidfile"),
            [format!("/tmp/warden-x/containers/{}.cid", spec.name()).as_str()]
        );
        // The suite's A wins over [container] env; TMPDIR is the container's own /tmp.
        assert_eq!(
            values(&a, "--env"),
            [
                "A=suite",
                "B=container",
                "WARDEN_RUN_ID=20260101T000000Z-abc123",
                "TMPDIR=/tmp"
            ]
        );
        let image_at = a.iter().position(|x| x == "img:1").unwrap();
        assert_eq!(
            a[image_at + 1..],
            [
                "sh",
                "/workspace/test/unit/a b_test.sh",
                "/etc/hosts",
                "rel"
            ]
        );
    }

    #[test]
    fn relaxed_config_changes_the_command_line() {
        let config = ContainerConfig {
            user: None,
            network: "bridge".into(),
            read_only: false,
            workspace_read_only: false,
            workspace: "/src".into(),
            tmpfs: Vec::new(),
            cap_add: vec!["NET_RAW".into()],
            no_new_privileges: false,
            init: false,
            pids_limit: None,
            memory: Some(64 << 20),
            cpus: Some(0.5),
            mounts: vec![Mount {
                source: "/data,1".into(),
                target: "/d".into(),
                read_only: false,
            }],
            extra_args: vec!["--shm-size".into(), "1m".into()],
            ..ContainerConfig::default()
        };
        let spec = run(config).spec_for(&process(), "t", 1).unwrap();
        let a = spec.run_args();
        for flag in [
            "--read-only",
            "--init",
            "--user",
            "--pids-limit",
            "--security-opt",
            "--tmpfs",
        ] {
            assert!(!a.iter().any(|x| x == flag), "{flag} present: {a:?}");
        }
        assert_eq!(values(&a, "--network"), ["bridge"]);
        // `@net: private` is the container's own loopback, whatever the config says.
        let private = SpawnSpec {
            net: Network::Private,
            ..process()
        };
        let p = run(spec.config.as_ref().clone()).spec_for(&private, "t", 1);
        assert_eq!(values(&p.unwrap().run_args(), "--network"), ["none"]);
        assert_eq!(values(&a, "--cap-drop"), ["ALL"]);
        assert_eq!(values(&a, "--cap-add"), ["NET_RAW"]);
        assert_eq!(values(&a, "--memory"), ["67108864"]);
        assert_eq!(values(&a, "--memory-swap"), ["67108864"]);
        assert_eq!(values(&a, "--cpus"), ["0.5"]);
        assert_eq!(
            values(&a, "--mount"),
            [
                "type=bind,source=/home/u/proj,target=/src",
                "type=bind,\"source=/data,1\",target=/d"
            ]
        );
        assert_eq!(values(&a, "--workdir"), ["/src/test/unit"]);
        assert_eq!(values(&a, "--shm-size"), ["1m"]);
        assert!(a.iter().position(|x| x == "--shm-size") < a.iter().position(|x| x == "img:1"));
    }

    #[test]
    fn test_limits_win_over_the_table() {
        let config = ContainerConfig {
            memory: Some(64 << 20),
            ..ContainerConfig::default()
        };
        let mut p = process();
        let a = run(config.clone()).spec_for(&p, "t", 1).unwrap().run_args();
        assert_eq!(values(&a, "--memory"), ["67108864"]);
        assert_eq!(values(&a, "--pids-limit"), ["512"]);
        assert!(values(&a, "--ulimit").is_empty());
        p.limits = Limits {
            mem_bytes: Some(32 << 20),
            pids: Some(64),
            safe_mode: true,
        };
        let spec = run(config).spec_for(&p, "t", 1).unwrap();
        let a = spec.run_args();
        assert_eq!(values(&a, "--memory"), ["33554432"]);
        assert_eq!(values(&a, "--memory-swap"), ["33554432"]);
        assert_eq!(values(&a, "--pids-limit"), ["64"]);
        assert_eq!(
            values(&a, "--ulimit"),
            ["core=0", "fsize=1073741824", "nofile=4096"]
        );
    }

    fn podman_run(config: ContainerConfig, rootless: bool, cgroup_version: u8) -> ContainerRun {
        let mut r = run(config);
        r.engine.kind = EngineKind::Podman;
        r.engine.program = "/usr/bin/podman".into();
        r.engine.facts.rootless = rootless;
        r.engine.facts.cgroup_version = cgroup_version;
        r
    }

    #[test]
    fn podman_gets_warden_own_rlimits_and_the_same_hardening() {
        let spec = podman_run(ContainerConfig::default(), false, 1)
            .spec_for(&process(), "t", 1)
            .unwrap();
        let a = spec.run_args();
        let ulimits = values(&a, "--ulimit");
        assert_eq!(ulimits.len(), 2, "{a:?}");
        assert!(ulimits[0].starts_with("nofile=") && ulimits[1].starts_with("nproc="));
        assert_eq!(values(&a, "--pids-limit"), ["512"]);
        assert_eq!(values(&a, "--cap-drop"), ["ALL"]);
        // Docker is left to its daemon's limits.
        let docker = run(ContainerConfig::default()).spec_for(&process(), "t", 1);
        assert!(values(&docker.unwrap().run_args(), "--ulimit").is_empty());
    }

    #[test]
    fn rootless_podman_on_cgroup_v1_gets_no_limits_it_would_drop() {
        let config = ContainerConfig {
            cpus: Some(1.0),
            ..ContainerConfig::default()
        };
        let spec = podman_run(config.clone(), true, 1)
            .spec_for(&process(), "t", 1)
            .unwrap();
        let a = spec.run_args();
        for flag in ["--pids-limit", "--memory", "--memory-swap", "--cpus"] {
            assert!(!a.iter().any(|x| x == flag), "{flag} present: {a:?}");
        }
        // The rest of the hardening stays.
        assert_eq!(values(&a, "--cap-drop"), ["ALL"]);
        assert!(a.iter().any(|x| x == "--read-only"));
        // A cap asked for a test is refused, not dropped.
        let mut p = process();
        p.limits.mem_bytes = Some(32 << 20);
        let e = podman_run(config.clone(), true, 1)
            .spec_for(&p, "test/a_test.sh", 1)
            .unwrap_err();
        assert!(matches!(e, SpecError::CapUnenforceable), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("rootless podman on cgroup v1 cannot enforce"),
            "{e}"
        );
        p.limits = Limits {
            pids: Some(10),
            ..Limits::default()
        };
        assert!(podman_run(config.clone(), true, 1)
            .spec_for(&p, "t", 1)
            .is_err());
        let memory = ContainerConfig {
            memory: Some(64 << 20),
            ..config.clone()
        };
        assert!(podman_run(memory.clone(), true, 1)
            .spec_for(&process(), "t", 1)
            .is_err());
        // On cgroup v2, rootless podman enforces them.
        let a = podman_run(memory, true, 2)
            .spec_for(&process(), "t", 1)
            .unwrap()
            .run_args();
        assert_eq!(values(&a, "--memory"), ["67108864"]);
        assert_eq!(values(&a, "--pids-limit"), ["512"]);
    }

    #[test]
    fn test_outside_the_project_is_an_error() {
        let mut p = process();
        p.cwd = "/elsewhere".into();
        let e = run(ContainerConfig::default())
            .spec_for(&p, "x_test.sh", 1)
            .unwrap_err();
        assert!(
            matches!(&e, SpecError::OutsideProject { test_id, dir, .. }
                if test_id == "x_test.sh" && dir == Path::new("/elsewhere")),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("outside the project /home/u/proj"),
            "{e}"
        );
        p.cwd = "/home/u/proj/../other".into();
        assert!(run(ContainerConfig::default())
            .spec_for(&p, "x", 1)
            .is_err());
    }

    #[test]
    fn names_are_valid_unique_and_bounded() {
        let valid = |n: &str| {
            n.starts_with("warden-")
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        };
        let a = container_name("r1", "test/a b$c_test.sh", 1);
        assert!(valid(&a), "{a}");
        assert!(a.starts_with("warden-r1-test_a_b_c_test.sh-"), "{a}");
        assert!(a.ends_with("-1"));
        assert_ne!(a, container_name("r1", "test/a_b_c_test.sh", 1));
        assert_ne!(a, container_name("r1", "test/a b$c_test.sh", 2));
        assert_ne!(a, container_name("r2", "test/a b$c_test.sh", 1));
        let long = container_name("r1", &"d/".repeat(200), 1);
        assert!(valid(&long) && long.len() < 100, "{long}");
        assert!(valid(&container_name("r1", "../x", 1)));
    }
}
