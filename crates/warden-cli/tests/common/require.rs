//! Skips that CI turns into failures: `WARDEN_REQUIRE_CGROUPS=1` (set by `.ci/run`) makes a
//! test that needs the host's cgroups fail where it would otherwise skip, so a runner that
//! lost its cgroups cannot pass the containment tests silently.

pub const REQUIRE_CGROUPS: &str = "WARDEN_REQUIRE_CGROUPS";

/// Say why a cgroup test does not run; panics instead when cgroups are required.
pub fn skip_without_cgroups(why: impl std::fmt::Display) {
    assert!(
        std::env::var(REQUIRE_CGROUPS).as_deref() != Ok("1"),
        "{REQUIRE_CGROUPS}=1 but {why}"
    );
    eprintln!("skipping: {why} ({REQUIRE_CGROUPS}=1 makes this a failure)");
}
