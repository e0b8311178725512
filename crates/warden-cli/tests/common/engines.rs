//! The container engines the container tests run on, each with the busybox test image in its
//! store: docker, podman (rootful), podman as a normal user (rootless, its own store) and
//! podman through a service (`podman system service`, reached with `CONTAINER_HOST`). The
//! tests run the same assertions on each (`per_engine!`); podman is skipped only when it is
//! not installed and `WARDEN_REQUIRE_PODMAN=1` is not set.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::sandbox::repo_root;
use super::user::{is_root, normal_user, TestUser};
use super::warden::Warden;

/// The test image's tag, in every engine's store.
pub const IMAGE: &str = super::host::TEST_IMAGE;
/// `1`: a missing podman fails the podman tests instead of skipping them (CI sets it).
pub const REQUIRE_PODMAN: &str = "WARDEN_REQUIRE_PODMAN";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Docker,
    Podman,
    /// podman run by a normal user: rootless, with a store of that user's.
    PodmanRootless,
    /// podman as a client of a service started for the tests.
    PodmanRemote,
}

/// One engine as the tests drive it: warden and the engine CLI run as `user` (when set) with
/// `env`.
pub struct Engine {
    pub variant: Variant,
    pub user: Option<TestUser>,
    pub env: Vec<(String, String)>,
    _service: Option<Arc<Service>>,
}

impl Engine {
    /// The engine of `variant`, ready with the test image; `None` (said on stderr) when the
    /// variant cannot be had here and is not required.
    pub fn get(variant: Variant) -> Option<Engine> {
        if variant != Variant::Docker && !podman_installed() {
            return None;
        }
        let mut engine = Engine {
            variant,
            user: None,
            env: Vec::new(),
            _service: None,
        };
        match variant {
            Variant::Docker | Variant::Podman => {}
            Variant::PodmanRootless => {
                if !is_root() {
                    eprintln!("the tests run as a normal user: their podman tests are the rootless ones already");
                    return None;
                }
                let user = normal_user().expect("a normal user for rootless podman");
                ensure_subids(&user);
                engine.env = rootless_env(&user);
                engine.user = Some(user);
            }
            Variant::PodmanRemote => {
                let service = Service::shared();
                engine.env = vec![(
                    "CONTAINER_HOST".into(),
                    format!("unix://{}", service.socket.display()),
                )];
                engine._service = Some(service);
            }
        }
        engine.build_image();
        Some(engine)
    }

    /// `docker` or `podman`: the value of `--container-engine`.
    pub fn name(&self) -> &'static str {
        match self.variant {
            Variant::Docker => "docker",
            _ => "podman",
        }
    }

    /// `--container-engine NAME`.
    pub fn choice(&self) -> [&'static str; 2] {
        ["--container-engine", self.name()]
    }

    /// warden in `cwd`, as this engine's user and with its environment. The caller gives the
    /// user the sandbox (`own`).
    pub fn warden(&self, cwd: &Path) -> Warden {
        let mut w = Warden::new(cwd);
        if let Some(user) = &self.user {
            w = w.run_as(user);
        }
        for (k, v) in &self.env {
            w = w.env(k, v);
        }
        w
    }

    /// Give `dir` to this engine's user (nothing to do for root's engines).
    pub fn own(&self, dir: &Path) {
        if let Some(user) = &self.user {
            user.own_tree(dir);
        }
    }

    /// The engine CLI as this engine's user: its stdout, or its stderr as the error.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.name()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{} {args:?}: {}",
                self.name(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// [`Engine::cli`] that must succeed.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        self.cli(args).unwrap_or_else(|e| panic!("{e}"))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.as_user(self.name());
        cmd.args(args);
        cmd
    }

    /// `program` as this engine's user, with its environment.
    fn as_user(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        if let Some(user) = self.user.as_ref().filter(|u| u.switch) {
            // A clean environment: a rootless pause process started by this command must not
            // carry anything of the test's (warden's tests look for leftovers by environment).
            cmd.env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", rootless_base(user))
                .env("USER", &user.name)
                .uid(user.uid)
                .gid(user.gid)
                .current_dir(rootless_base(user));
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Ids of every container, running or not, labelled with `run_id`.
    pub fn containers_of(&self, run_id: &str) -> Vec<String> {
        let filter = format!("label=warden.run={run_id}");
        self.cli_ok(&["ps", "--all", "--quiet", "--filter", &filter])
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// How many containers labelled with `run_id` are running.
    pub fn running_of(&self, run_id: &str) -> usize {
        let filter = format!("label=warden.run={run_id}");
        self.cli_ok(&[
            "ps",
            "--quiet",
            "--filter",
            &filter,
            "--filter",
            "status=running",
        ])
        .split_whitespace()
        .count()
    }

    /// Whether `--memory` and `--pids-limit` are enforced: not by rootless podman on cgroup v1.
    pub fn enforces_limits(&self) -> bool {
        if self.variant == Variant::Docker {
            return true;
        }
        let info = self.cli_ok(&[
            "info",
            "--format",
            "{{.Host.Security.Rootless}} {{.Host.CgroupsVersion}}",
        ]);
        info.trim() != "true v1"
    }

    /// What a bare `run` of a test container needs besides its own arguments: on podman the
    /// nofile/nproc rlimits warden passes too (its defaults cannot be set without
    /// CAP_SYS_RESOURCE).
    pub fn bare_run_args(&self) -> Vec<String> {
        if self.variant == Variant::Docker {
            return Vec::new();
        }
        let limit = |resource| {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills the struct we own.
            assert_eq!(unsafe { libc::getrlimit(resource, &mut rl) }, 0);
            (rl.rlim_cur.min(rl.rlim_max), rl.rlim_max)
        };
        let pid_max: u64 = fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
        let (nofile_soft, nofile_hard) = limit(libc::RLIMIT_NOFILE);
        let (nproc_soft, nproc_hard) = limit(libc::RLIMIT_NPROC);
        let nofile_hard = nofile_hard.min(1 << 20);
        let nproc_hard = nproc_hard.min(pid_max);
        vec![
            "--ulimit".into(),
            format!("nofile={}:{nofile_hard}", nofile_soft.min(nofile_hard)),
            "--ulimit".into(),
            format!("nproc={}:{nproc_hard}", nproc_soft.min(nproc_hard)),
        ]
    }

    /// The `inspect` format showing a container's hardening, and the answer expected. docker
    /// keeps `CapDrop` as given; podman lists what it dropped and reports what is left in
    /// `EffectiveCaps` (`null`: nothing). Where limits are not enforced, podman records none.
    pub fn hardening(&self) -> (String, String) {
        let (caps, none) = match self.variant {
            Variant::Docker => ("{{json .HostConfig.CapDrop}}", "[\"ALL\"]"),
            _ => ("{{json .EffectiveCaps}}", "null"),
        };
        let pids = if self.enforces_limits() { 512 } else { 0 };
        (
            format!(
                "{caps} {{{{.HostConfig.ReadonlyRootfs}}}} {{{{.HostConfig.NetworkMode}}}} \
                 {{{{json .HostConfig.SecurityOpt}}}} {{{{.Config.User}}}} \
                 {{{{.HostConfig.PidsLimit}}}} {{{{.HostConfig.Init}}}}"
            ),
            format!("{none} true none [\"no-new-privileges\"] 65534:65534 {pids} true"),
        )
    }

    /// Builds the test image in this engine's store (idempotent: the script does nothing when
    /// the tag exists); once per variant and test binary.
    fn build_image(&self) {
        static BUILT: Mutex<Vec<Variant>> = Mutex::new(Vec::new());
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if built.contains(&self.variant) {
            return;
        }
        let script = repo_root().join("fixtures/container/build-image.sh");
        // Readable by the rootless user: a copy in its own directory.
        let script = match &self.user {
            Some(user) if user.switch => {
                let copy = rootless_base(user).join("build-image.sh");
                fs::copy(&script, &copy).expect("copy build-image.sh");
                copy
            }
            _ => script,
        };
        let out = self
            .as_user("sh")
            .env_remove("ENGINE")
            .arg(&script)
            .arg(IMAGE)
            .arg(self.name())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "building the test image with {:?} failed:\n{}",
            self.variant,
            String::from_utf8_lossy(&out.stderr)
        );
        built.push(self.variant);
    }
}

fn podman_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let found = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                fs::metadata(dir.join("podman"))
                    .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
            })
        });
        let required = std::env::var(REQUIRE_PODMAN).as_deref() == Ok("1");
        assert!(
            found || !required,
            "{REQUIRE_PODMAN}=1 but podman is not in PATH (apt-get install podman)"
        );
        if !found {
            eprintln!("podman is not installed: its container tests are skipped ({REQUIRE_PODMAN}=1 makes that a failure)");
        }
        found
    })
}

/// Where the rootless user's podman keeps its store, configuration and runtime files: one
/// place for every test (the image is built once), owned by the user.
fn rootless_base(user: &TestUser) -> PathBuf {
    std::env::temp_dir().join(format!("warden-itest-podman-{}", user.uid))
}

/// `HOME`, `XDG_RUNTIME_DIR`, `XDG_DATA_HOME`, `XDG_CONFIG_HOME` for the rootless user,
/// created. `Warden::run_as` makes the sandbox the user's home; these keep podman's store where
/// the image is, and the locks podman writes under `$HOME` (`.config/cni`, `.cache/containers`)
/// out of the project, as they are for a real user.
fn rootless_env(user: &TestUser) -> Vec<(String, String)> {
    let base = rootless_base(user);
    let mut env = vec![("HOME".to_string(), base.display().to_string())];
    for (var, sub, mode) in [
        ("XDG_RUNTIME_DIR", "run", 0o700),
        ("XDG_DATA_HOME", "data", 0o755),
        ("XDG_CONFIG_HOME", "config", 0o755),
    ] {
        let dir = base.join(sub);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        env.push((var.to_string(), dir.display().to_string()));
    }
    fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).expect("chmod");
    // Only the top: the store below belongs to the user's subordinate ids as podman left it.
    for dir in [
        base.clone(),
        base.join("run"),
        base.join("data"),
        base.join("config"),
    ] {
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    }
    env
}

/// Rootless podman maps the container's users to the user's subordinate ids: give the test
/// user a range in /etc/subuid and /etc/subgid when it has none (as root, once).
fn ensure_subids(user: &TestUser) {
    if !user.switch {
        return;
    }
    let lock_path = std::env::temp_dir().join("warden-itest-subids.lock");
    let lock = fs::File::create(&lock_path).expect("create the subids lock");
    // SAFETY: flock on an fd we own; released when `lock` is dropped.
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX);
    }
    let prefix = format!("{}:", user.name);
    let has = |file: &str| {
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&prefix))
    };
    if has("/etc/subuid") && has("/etc/subgid") {
        return;
    }
    // After every range already given, so that no two users share ids.
    let start = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| {
            let mut f = l.split(':').skip(1);
            Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0)
        .max(100_000);
    let range = format!("{start}-{}", start + 65_535);
    let out = Command::new("usermod")
        .args(["--add-subuids", &range, "--add-subgids", &range, &user.name])
        .output()
        .expect("run usermod");
    assert!(
        out.status.success(),
        "usermod --add-subuids {range} {}: {}",
        user.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = writeln!(
        std::io::stderr(),
        "gave {} the subordinate ids {range}",
        user.name
    );
}

/// `podman system service` (rootful) on a socket of its own, shared by the tests running at
/// once and stopped when the last drops it; `--time` ends it by itself if a test binary dies.
pub struct Service {
    child: Mutex<Child>,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    fn shared() -> Arc<Service> {
        static CURRENT: Mutex<Weak<Service>> = Mutex::new(Weak::new());
        let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = current.upgrade() {
            return s;
        }
        let dir = tempfile::tempdir().expect("temp dir for the podman socket");
        let socket = dir.path().join("podman.sock");
        let child = Command::new("podman")
            // conmon inherits the service's working directory and may write there.
            .current_dir(dir.path())
            .args(["system", "service", "--time", "60"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start podman system service");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "podman system service made no socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = Arc::new(Service {
            child: Mutex::new(child),
            socket,
            _dir: dir,
        });
        *current = Arc::downgrade(&s);
        s
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(None) = child.try_wait() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `per_engine!(name, ...)`: for each `fn name(engine: &Engine)`, the tests `name::docker`,
/// `name::podman`, `name::podman_rootless` and `name::podman_remote`.
#[macro_export]
macro_rules! per_engine {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn docker() {
                let e = Engine::get(Variant::Docker).expect("docker");
                super::$name(&e)
            }
            #[test]
            fn podman() {
                if let Some(e) = Engine::get(Variant::Podman) {
                    super::$name(&e)
                }
            }
            #[test]
            fn podman_rootless() {
                if let Some(e) = Engine::get(Variant::PodmanRootless) {
                    super::$name(&e)
                }
            }
            #[test]
            fn podman_remote() {
                if let Some(e) = Engine::get(Variant::PodmanRemote) {
                    super::$name(&e)
                }
            }
        }
    )+};
}
