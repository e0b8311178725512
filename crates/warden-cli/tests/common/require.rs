//! Skips that CI turns into failures: `WARDEN_REQUIRE_CGROUPS=1` (set by `.ci/run`) makes a
//! test that needs the host's cgroups fail where it would otherwise skip. One definition, the
//! engine's, serves its unit tests and these integration tests.

pub use warden::supervise::os::require::{skip_without_cgroups, REQUIRE_CGROUPS};
