//! Per-test caps on real processes. The host guard's decisions are checked with scripted
//! readings on a paused clock (`scripted_tests.rs`); on the real host by tests/guard.rs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::tests::{run_plan, script};
use super::*;
use crate::events::{EventKind, Status};
use crate::monitor::GuardConfig;
use crate::supervise::Limits;
use crate::test_case::TestCase;

/// Each test its own run id: the environment token that finds a test's processes holds it, and
/// the tests of this file run at once in one process with the same test ids.
fn plan(dir: &Path, tests: Vec<TestCase>, guard: Option<GuardConfig>) -> RunPlan {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    RunPlan {
        run_id: format!("unit-guard-{}-{name}", std::process::id()),
        default_timeout: Duration::from_secs(20),
        guard,
        ..super::tests::plan(dir, tests)
    }
}

/// A test's own memory limit (marker or suite) wins over the run's; without a memory cgroup
/// here (none given to the plan) it is enforced as an rlimit, with a warning.
#[test]
fn per_test_memory_limit_reaches_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alloc = "python3 -c 'b = bytearray(b\"x\") * (150 << 20)'";
    let mut small = script(d, "small_test.sh", alloc);
    small.mem_limit = Some(100 << 20);
    let big = script(d, "big_test.sh", alloc);
    let mut p = plan(d, vec![small, big], None);
    p.limits = Limits {
        mem_bytes: Some(1 << 30),
        pids: None,
        safe_mode: true,
    };
    let (outcome, events) = run_plan(p);
    let results: BTreeMap<String, Status> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TestFinished(r) => Some((r.id.clone(), r.status)),
            _ => None,
        })
        .collect();
    assert_eq!(results["small_test.sh"], Status::Fail);
    assert_eq!(results["big_test.sh"], Status::Pass);
    assert_eq!(outcome.exit_code, 1);
}
