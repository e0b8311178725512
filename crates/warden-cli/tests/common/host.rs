//! This host as the tests see it: its memory in use, and the container tests' image.

use std::process::Command;
use std::sync::OnceLock;

use super::sandbox::repo_root;

/// The image warden's container tests run in, built from local files.
pub const TEST_IMAGE: &str = "warden-test-busybox:1";

/// Host memory in use, percent, as warden computes it.
pub fn host_mem_percent() -> f64 {
    let info = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/meminfo"))
    };
    let (total, available) = (field("MemTotal"), field("MemAvailable"));
    (total - available) * 100.0 / total
}

/// Builds [`TEST_IMAGE`] in docker's store once (idempotent across test binaries: the script
/// does nothing when the tag exists) and returns its tag. The container tests that run on every
/// engine build it in each with `Engine::get` (engines.rs).
pub fn test_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = repo_root().join("fixtures/container/build-image.sh");
        let out = Command::new("sh")
            .arg(&script)
            .arg(TEST_IMAGE)
            .arg("docker")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "building the test image failed (the container tests need docker):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    TEST_IMAGE
}

/// The file `name` in the first PATH directory that has it.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
