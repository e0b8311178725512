//! `--self-protect` and its thresholds, and the per-test caps (`--test-mem-limit`,
//! `--test-pids-limit`, `--safe-mode`) of [`Resolver`].

use super::error::{ConfigError, Message, OptionKey};
use super::load::{given, Given, Layer, Resolver};
use super::settings::{HostGuard, TestLimits};
use crate::units::parse_size;

/// Default CPU and memory thresholds of the host guard, in percent (SPEC §2).
pub const DEFAULT_THRESHOLD: f64 = 90.0;
/// The smallest per-test memory cap (`--test-mem-limit`, suite `mem_limit`, `@mem-limit`):
/// below it not even a shell starts, and a value like `1` is a size typed without its unit.
pub const MIN_TEST_MEM_LIMIT: u64 = 1 << 20;

impl Resolver {
    pub(super) fn host_guard(&self) -> Result<Option<HostGuard>, ConfigError> {
        let on_opt = given!(self.self_protect);
        let on = on_opt.value == Some(true);
        let cpu_opt = given!(self.cpu_threshold);
        let mem_opt = given!(self.mem_threshold);
        let cpu = self.percent(&cpu_opt)?;
        let mem = self.percent(&mem_opt)?;
        // In warden.toml a threshold is a default for when the guard is on; on the command
        // line without the guard it would do nothing, and nothing is silently ignored.
        for opt in [&cpu_opt, &mem_opt] {
            if !on && opt.layer == Layer::Cli {
                return Err(self.invalid_because(
                    opt,
                    Message::new()
                        .text("has no effect without ")
                        .option(OptionKey::new("self_protect")),
                ));
            }
        }
        Ok(on.then(|| HostGuard {
            cpu_threshold: cpu.unwrap_or(DEFAULT_THRESHOLD),
            mem_threshold: mem.unwrap_or(DEFAULT_THRESHOLD),
        }))
    }

    pub(super) fn test_limits(&self) -> Result<TestLimits, ConfigError> {
        let mem_opt = given!(self.test_mem_limit);
        let mem_bytes = match &mem_opt.value {
            None => None,
            Some(text) => {
                let bytes = parse_size(text).map_err(|e| self.invalid(&mem_opt, e))?;
                if bytes < MIN_TEST_MEM_LIMIT {
                    return Err(self.invalid(
                        &mem_opt,
                        format!(
                            "`{text}` is too small: no test can start with less than {} (a size \
                             takes a unit: 512M, 2G)",
                            crate::units::format_size(MIN_TEST_MEM_LIMIT)
                        ),
                    ));
                }
                Some(bytes)
            }
        };
        let pids_opt = given!(self.test_pids_limit);
        if pids_opt.value == Some(0) {
            return Err(self.invalid(&pids_opt, "must be at least 1"));
        }
        Ok(TestLimits {
            mem_bytes,
            pids: pids_opt.value.map(u64::from),
            safe_mode: given!(self.safe_mode).value == Some(true),
        })
    }

    /// A percentage of the host: more than 0, at most 100.
    fn percent(&self, opt: &Given<f64>) -> Result<Option<f64>, ConfigError> {
        match opt.value {
            None => Ok(None),
            Some(p) if p.is_finite() && p > 0.0 && p <= 100.0 => Ok(Some(p)),
            Some(p) => Err(self.invalid(
                opt,
                format!("`{p}`: a percentage of the host, more than 0 and at most 100"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::tests::{cli, load, option_error, project};
    use crate::config::RunOptions;

    #[test]
    fn guard_is_off_unless_asked_and_takes_thresholds_from_file_or_cli() {
        let dir = project(None);
        let s = load(dir.path(), cli()).unwrap();
        assert_eq!(s.run.host_guard, None);
        assert_eq!(s.run.test_limits, TestLimits::default());

        let on = RunOptions {
            self_protect: Some(true),
            ..cli()
        };
        let s = load(dir.path(), on.clone()).unwrap();
        assert_eq!(
            s.run.host_guard,
            Some(HostGuard {
                cpu_threshold: 90.0,
                mem_threshold: 90.0
            })
        );

        // Thresholds in the file are defaults for when the guard is on; integers are fine.
        let dir = project(Some("[run]\ncpu_threshold = 75\nmem_threshold = 80.5\n"));
        assert_eq!(load(dir.path(), cli()).unwrap().run.host_guard, None);
        let s = load(
            dir.path(),
            RunOptions {
                mem_threshold: Some(60.0),
                ..on
            },
        )
        .unwrap();
        assert_eq!(
            s.run.host_guard,
            Some(HostGuard {
                cpu_threshold: 75.0,
                mem_threshold: 60.0
            })
        );
        let dir = project(Some("[run]\nself_protect = true\n"));
        assert!(load(dir.path(), cli()).unwrap().run.host_guard.is_some());
    }

    #[test]
    fn bad_thresholds_and_thresholds_without_the_guard_are_named() {
        let dir = project(None);
        let err = option_error(
            dir.path(),
            RunOptions {
                cpu_threshold: Some(80.0),
                ..cli()
            },
        );
        assert_eq!(
            err,
            (
                "cpu_threshold".into(),
                "has no effect without `self_protect`".into()
            )
        );
        let err = option_error(
            dir.path(),
            RunOptions {
                self_protect: Some(true),
                mem_threshold: Some(150.0),
                ..cli()
            },
        );
        assert_eq!(
            err,
            (
                "mem_threshold".into(),
                "`150`: a percentage of the host, more than 0 and at most 100".into()
            )
        );
        let dir = project(Some("[run]\nself_protect = true\n\ncpu_threshold = 0\n"));
        let err = load(dir.path(), cli()).unwrap_err();
        assert!(
            err.starts_with("warden.toml:4: ") && err.contains("more than 0"),
            "{err}"
        );
    }

    #[test]
    fn per_test_caps() {
        let dir = project(Some("[run]\ntest_mem_limit = \"512M\"\nsafe_mode = true\n"));
        let s = load(
            dir.path(),
            RunOptions {
                test_pids_limit: Some(64),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(
            s.run.test_limits,
            TestLimits {
                mem_bytes: Some(512 << 20),
                pids: Some(64),
                safe_mode: true
            }
        );
        let s = load(
            dir.path(),
            RunOptions {
                test_mem_limit: Some("1G".into()),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(s.run.test_limits.mem_bytes, Some(1 << 30));
        let (key, _) = option_error(
            dir.path(),
            RunOptions {
                test_mem_limit: Some("lots".into()),
                ..cli()
            },
        );
        assert_eq!(key, "test_mem_limit");
        let err = option_error(
            dir.path(),
            RunOptions {
                test_pids_limit: Some(0),
                ..cli()
            },
        );
        assert_eq!(err, ("test_pids_limit".into(), "must be at least 1".into()));
        let dir = project(Some("[run]\ntest_mem_limit = \"0\"\n"));
        let err = load(dir.path(), cli()).unwrap_err();
        assert!(err.starts_with("warden.toml:2: "), "{err}");
    }
}
