//! For tests that need the real engine: docker, checked once, and the busybox test image built
//! from local files by `fixtures/container/build-image.sh` (idempotent; nothing is pulled).

use std::process::Command;
use std::sync::OnceLock;

use super::engine::{Engine, EngineChoice};

pub(crate) const TEST_IMAGE: &str = "warden-test-busybox:1";

const BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/container/build-image.sh"
);

/// The docker engine of this machine; the container tests need it and say so.
pub(crate) fn docker() -> Engine {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let e = Engine::find(EngineChoice::Docker).map_err(|e| e.to_string())?;
            e.check().map_err(|e| e.to_string())?;
            Ok(e)
        })
        .clone()
        .unwrap_or_else(|e| panic!("the container tests need a working docker: {e}"))
}

/// The tag of the test image, built on first use.
pub(crate) fn test_image() -> String {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = Command::new("sh")
                .arg(BUILD_SCRIPT)
                .arg(TEST_IMAGE)
                .env("ENGINE", docker().program)
                .output()
                .map_err(|e| format!("cannot run {BUILD_SCRIPT}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "{BUILD_SCRIPT} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(())
        })
        .clone()
        .unwrap_or_else(|e| panic!("cannot build the container test image: {e}"));
    TEST_IMAGE.to_string()
}
