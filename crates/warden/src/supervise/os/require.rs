//! For unit tests that need the host's cgroups: where the host gives none they skip, unless
//! `WARDEN_REQUIRE_CGROUPS=1` (CI sets it), which turns the skip into a failure, so a machine
//! that silently lost its cgroups cannot pass the containment tests.

/// The variable that makes a missing cgroup a test failure.
pub const REQUIRE_CGROUPS: &str = "WARDEN_REQUIRE_CGROUPS";

/// Say why a cgroup test does not run; panics instead when cgroups are required.
pub fn skip_without_cgroups(why: impl std::fmt::Display) {
    assert!(
        std::env::var(REQUIRE_CGROUPS).as_deref() != Ok("1"),
        "{REQUIRE_CGROUPS}=1 but {why}"
    );
    eprintln!("skipping: {why} ({REQUIRE_CGROUPS}=1 makes this a failure)");
}
