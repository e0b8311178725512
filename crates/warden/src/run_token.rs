//! The environment token of a run, built in one place: every process a test starts inherits
//! `WARDEN_RUN_ID` and `WARDEN_TEST_ID`, which is how the sweep, the watchdog and `warden clean`
//! tell a run's processes (and containers' engine clients) from everyone else's.

/// The variable naming the run a process belongs to.
pub const RUN_ID_VAR: &str = "WARDEN_RUN_ID";
/// The variable naming the test a process belongs to.
pub const TEST_ID_VAR: &str = "WARDEN_TEST_ID";

/// The `K=V` entry every process of the run carries, as found in `/proc/<pid>/environ`.
pub fn run_entry(run_id: &str) -> String {
    format!("{RUN_ID_VAR}={run_id}")
}

/// The `K=V` entries every process of one test carries.
pub fn test_entries(run_id: &str, test_id: &str) -> Vec<String> {
    vec![run_entry(run_id), format!("{TEST_ID_VAR}={test_id}")]
}

/// The same token as environment variables to set.
pub fn test_env(run_id: &str, test_id: &str) -> [(String, String); 2] {
    [
        (RUN_ID_VAR.to_string(), run_id.to_string()),
        (TEST_ID_VAR.to_string(), test_id.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_env_are_one_token() {
        let entries = test_entries("r1", "t/a b.sh");
        let from_env: Vec<String> = test_env("r1", "t/a b.sh")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(entries, from_env);
        assert_eq!(entries[0], run_entry("r1"));
        assert_eq!(entries[0], "WARDEN_RUN_ID=r1");
    }
}
