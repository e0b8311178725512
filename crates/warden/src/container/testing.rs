//! For tests that need the real engines: docker (always required), podman (when installed;
//! required when `WARDEN_REQUIRE_PODMAN=1`, as CI sets it), and podman through a service of
//! its own (`podman system service`, reached with `CONTAINER_HOST`), each checked once, with
//! the busybox test image built from local files by `fixtures/container/build-image.sh`
//! (idempotent; nothing is pulled). [`per_engine!`] runs one test body on each.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::engine::{Engine, EngineChoice, EngineError, EngineKind};

pub(crate) const TEST_IMAGE: &str = "warden-test-busybox:1";
/// Set to `1` to make a missing podman fail the podman tests instead of skipping them.
pub(crate) const REQUIRE_PODMAN: &str = "WARDEN_REQUIRE_PODMAN";

const BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/container/build-image.sh"
);

/// How a test reaches an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Docker,
    /// podman itself, no service.
    Podman,
    /// podman as a client of `podman system service` started for the tests.
    PodmanRemote,
}

/// The engine of `variant` with the test image in its store, and what keeps it up (the
/// podman service; drop it last). `None`, with a note on stderr, when podman is not installed
/// and not required; a panic when an engine is there but does not work.
pub(crate) fn engine(variant: Variant) -> Option<(Engine, Option<Arc<Service>>)> {
    let base = match variant {
        Variant::Docker => checked(EngineKind::Docker)?,
        Variant::Podman | Variant::PodmanRemote => checked(EngineKind::Podman)?,
    };
    build_image(&base);
    if variant != Variant::PodmanRemote {
        return Some((base, None));
    }
    let service = Service::shared(&base);
    let mut remote = base.clone();
    remote.env.push((
        "CONTAINER_HOST".into(),
        format!("unix://{}", service.socket.display()),
    ));
    remote.facts = remote
        .check()
        .unwrap_or_else(|e| panic!("podman through its service does not answer: {e}"));
    assert!(remote.facts.remote, "{:?}", remote.facts);
    Some((remote, Some(service)))
}

/// The checked engine of `kind`: docker must work; podman must work when it is installed or
/// required, else `None`.
fn checked(kind: EngineKind) -> Option<Engine> {
    // The outcome is shared by every test (and cloned out): an `Arc`, as errors do not clone.
    static DOCKER: OnceLock<Result<Engine, Arc<EngineError>>> = OnceLock::new();
    static PODMAN: OnceLock<Option<Result<Engine, Arc<EngineError>>>> = OnceLock::new();
    let check = |choice| {
        let mut e = Engine::find(choice)?;
        e.facts = e.check()?;
        Ok::<_, EngineError>(e)
    };
    match kind {
        EngineKind::Docker => Some(
            DOCKER
                .get_or_init(|| check(EngineChoice::Docker).map_err(Arc::new))
                .clone()
                .unwrap_or_else(|e| panic!("the container tests need a working docker: {e}")),
        ),
        EngineKind::Podman => PODMAN
            .get_or_init(|| {
                let required = std::env::var(REQUIRE_PODMAN).as_deref() == Ok("1");
                if !required && Engine::find(EngineChoice::Podman).is_err() {
                    eprintln!("podman is not installed: its container tests are skipped ({REQUIRE_PODMAN}=1 makes that a failure)");
                    return None;
                }
                Some(check(EngineChoice::Podman).map_err(Arc::new))
            })
            .clone()
            .map(|r| {
                r.unwrap_or_else(|e| panic!("podman is installed (or {REQUIRE_PODMAN}=1) but does not work: {e}"))
            }),
    }
}

/// Build the test image in `engine`'s store, once per engine kind.
fn build_image(engine: &Engine) {
    static BUILT: Mutex<Vec<EngineKind>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&engine.kind) {
        return;
    }
    let out = Command::new("sh")
        .arg(BUILD_SCRIPT)
        .arg(TEST_IMAGE)
        .arg(&engine.program)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BUILD_SCRIPT}: {e}"));
    assert!(
        out.status.success(),
        "{BUILD_SCRIPT} failed with {}: {}",
        engine.program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    built.push(engine.kind);
}

/// `docker`, `podman` or `podman-remote`: podman and podman through its service share a store,
/// so names and run ids made by tests include this to stay apart.
pub(crate) fn variant_name(engine: &Engine) -> &'static str {
    match (engine.kind, engine.facts.remote) {
        (EngineKind::Docker, _) => "docker",
        (EngineKind::Podman, false) => "podman",
        (EngineKind::Podman, true) => "podman-remote",
    }
}

/// What a bare `run` or `create` of a test container needs on `engine` besides its own
/// arguments: podman's rlimits, as warden gives them (see `podman::ulimit_args`).
pub(crate) fn bare_run_args(engine: &Engine) -> Vec<String> {
    match engine.kind {
        EngineKind::Docker => Vec::new(),
        EngineKind::Podman => super::podman::ulimit_args(false, &[]),
    }
}

/// The tag of the test image (built by [`engine`]).
pub(crate) fn test_image() -> String {
    TEST_IMAGE.to_string()
}

/// `podman system service` on a socket of its own, shared by the tests running at once and
/// stopped when the last of them drops it. `--time` makes it exit by itself when idle, so a
/// test binary that dies cannot leave it behind for long.
pub(crate) struct Service {
    child: Mutex<Child>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    fn shared(podman: &Engine) -> Arc<Service> {
        static CURRENT: Mutex<Weak<Service>> = Mutex::new(Weak::new());
        let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = current.upgrade() {
            return s;
        }
        let s = Arc::new(Service::start(podman));
        *current = Arc::downgrade(&s);
        s
    }

    fn start(podman: &Engine) -> Service {
        let dir = tempfile::tempdir().expect("temp dir for the podman socket");
        let socket = dir.path().join("podman.sock");
        let child = podman
            .command()
            // conmon inherits the service's working directory and may write there.
            .current_dir(dir.path())
            .args(["system", "service", "--time", "60"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start podman system service");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "podman system service made no socket in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Service {
            child: Mutex::new(child),
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        // SIGTERM: the service shuts down cleanly; our own child, by pid.
        // SAFETY: kill(2) on a child we have not waited for.
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

/// One test body, `async fn NAME(engine: Engine)` (or a plain `fn` with `sync`), run once per
/// engine: `NAME::docker`, `NAME::podman`, `NAME::podman_remote`. The podman ones pass without
/// running when podman is not installed and not required.
macro_rules! per_engine {
    (async $($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::container::testing::{engine, Variant};
            #[tokio::test]
            async fn docker() {
                let (e, _s) = engine(Variant::Docker).unwrap();
                super::$name(e).await
            }
            #[tokio::test]
            async fn podman() {
                if let Some((e, _s)) = engine(Variant::Podman) {
                    super::$name(e).await
                }
            }
            #[tokio::test]
            async fn podman_remote() {
                if let Some((e, _s)) = engine(Variant::PodmanRemote) {
                    super::$name(e).await
                }
            }
        }
    )+};
    (sync $($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::container::testing::{engine, Variant};
            #[test]
            fn docker() {
                let (e, _s) = engine(Variant::Docker).unwrap();
                super::$name(e)
            }
            #[test]
            fn podman() {
                if let Some((e, _s)) = engine(Variant::Podman) {
                    super::$name(e)
                }
            }
            #[test]
            fn podman_remote() {
                if let Some((e, _s)) = engine(Variant::PodmanRemote) {
                    super::$name(e)
                }
            }
        }
    )+};
}
pub(crate) use per_engine;
