//! The exit codes of a run (SPEC §5), named once: the scheduler picks one, the reporters say
//! what it means, `merge` ranks them, the CLI exits with it.

use serde::{Deserialize, Serialize};

/// A run's exit code. A merged report may carry a code warden never gives (a shard killed by
/// something else), so any `i32` is representable; the named ones are the contract's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExitCode(i32);

impl ExitCode {
    /// Every selected test passed or was skipped.
    pub const PASSED: ExitCode = ExitCode(0);
    /// At least one test failed (fail, timeout, leak, error, oom).
    pub const FAILED: ExitCode = ExitCode(1);
    /// Usage or configuration error: nothing ran.
    pub const USAGE: ExitCode = ExitCode(2);
    /// No test was selected (`--no-tests=fail`, the default).
    pub const NO_TESTS: ExitCode = ExitCode(4);
    /// Stopped by the host guard (`--self-protect`), with a checkpoint.
    pub const GUARD: ExitCode = ExitCode(42);
    /// `--resume` was impossible: nothing ran.
    pub const NOT_RESUMED: ExitCode = ExitCode(43);
    /// Stopped by SIGHUP, SIGINT or SIGTERM (128 + the signal), with a checkpoint.
    pub const SIGHUP: ExitCode = ExitCode(128 + libc::SIGHUP);
    pub const SIGINT: ExitCode = ExitCode(128 + libc::SIGINT);
    pub const SIGTERM: ExitCode = ExitCode(128 + libc::SIGTERM);

    pub const fn from_raw(code: i32) -> ExitCode {
        ExitCode(code)
    }

    /// The code of a run stopped by `signal` (128 + its number).
    pub const fn of_signal(signal: i32) -> ExitCode {
        ExitCode(128 + signal)
    }

    /// PASSED when nothing failed, else FAILED.
    pub const fn of_failure(any_failure: bool) -> ExitCode {
        if any_failure {
            ExitCode::FAILED
        } else {
            ExitCode::PASSED
        }
    }

    pub const fn code(self) -> i32 {
        self.0
    }

    /// The byte the process exits with; a code outside 0..=255 becomes FAILED.
    pub fn process_code(self) -> u8 {
        u8::try_from(self.0).unwrap_or(1)
    }

    /// Stopped with a checkpoint that `--resume` continues.
    pub fn is_resumable(self) -> bool {
        self == ExitCode::GUARD || self.is_signal_stop()
    }

    fn is_signal_stop(self) -> bool {
        [ExitCode::SIGHUP, ExitCode::SIGINT, ExitCode::SIGTERM].contains(&self)
    }

    /// Why the run stopped early, in words (`None` for a run that ran to its end).
    pub fn stopped_by(self) -> Option<&'static str> {
        match self {
            ExitCode::GUARD => Some("stopped by --self-protect"),
            c if c.is_signal_stop() => Some("interrupted"),
            _ => None,
        }
    }

    /// The verdict a report headline shows.
    pub fn verdict(self) -> &'static str {
        match self {
            ExitCode::PASSED => "PASSED",
            ExitCode::GUARD => "STOPPED BY THE GUARD",
            c if c.is_signal_stop() => "INTERRUPTED",
            ExitCode::USAGE => "USAGE ERROR",
            ExitCode::NOT_RESUMED => "NOT RESUMED",
            ExitCode::NO_TESTS => "NO TESTS",
            _ => "FAILED",
        }
    }

    /// How bad the code is when shards are merged: the worst one is the merged run's. A shard
    /// that did not run all its tests outranks one whose tests failed, because a merged `1`
    /// would hide that part of the suite never ran.
    ///
    /// | rank | code | meaning |
    /// |---|---|---|
    /// | 8 | 2 | usage or configuration error: the shard ran nothing |
    /// | 7 | 43 | `--resume` impossible: the shard ran nothing |
    /// | 6, 5, 4 | 130, 143, 129 | stopped by SIGINT, SIGTERM, SIGHUP: resumable |
    /// | 3 | 42 | stopped by `--self-protect`: resumable |
    /// | 2 | any other non-zero code (4 too) | nothing selected, or something outside warden failed |
    /// | 1 | 1 | tests failed |
    /// | 0 | 0 | every test passed or was skipped |
    pub fn merge_rank(self) -> u8 {
        match self {
            ExitCode::PASSED => 0,
            ExitCode::FAILED => 1,
            ExitCode::GUARD => 3,
            ExitCode::SIGHUP => 4,
            ExitCode::SIGTERM => 5,
            ExitCode::SIGINT => 6,
            ExitCode::NOT_RESUMED => 7,
            ExitCode::USAGE => 8,
            _ => 2,
        }
    }
}

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Lets tests and callers compare with the literal the contract documents.
impl PartialEq<i32> for ExitCode {
    fn eq(&self, other: &i32) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn named_codes_are_the_contracts_numbers() {
        let named = [
            (ExitCode::PASSED, 0),
            (ExitCode::FAILED, 1),
            (ExitCode::USAGE, 2),
            (ExitCode::NO_TESTS, 4),
            (ExitCode::GUARD, 42),
            (ExitCode::NOT_RESUMED, 43),
            (ExitCode::SIGHUP, 129),
            (ExitCode::SIGINT, 130),
            (ExitCode::SIGTERM, 143),
        ];
        for (code, n) in named {
            assert_eq!(code.code(), n);
            assert_eq!(serde_json::to_string(&code).unwrap(), n.to_string());
        }
        assert_eq!(ExitCode::of_signal(libc::SIGINT), ExitCode::SIGINT);
    }

    #[test]
    fn only_checkpointed_stops_are_resumable() {
        let resumable: Vec<i32> = [0, 1, 2, 4, 42, 43, 129, 130, 143, 137]
            .into_iter()
            .filter(|&c| ExitCode::from_raw(c).is_resumable())
            .collect();
        assert_eq!(resumable, [42, 129, 130, 143]);
    }

    #[test]
    fn merge_ranks_put_strangers_between_a_failure_and_the_stops() {
        let order = [0, 1, 7, 42, 129, 143, 130, 43, 2];
        let ranks: Vec<u8> = order
            .iter()
            .map(|&c| ExitCode::from_raw(c).merge_rank())
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
    }

    #[test]
    fn a_code_beyond_a_byte_exits_as_a_failure() {
        assert_eq!(ExitCode::from_raw(300).process_code(), 1);
        assert_eq!(ExitCode::SIGTERM.process_code(), 143);
    }
}
