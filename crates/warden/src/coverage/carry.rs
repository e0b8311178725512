//! `--resume` with `--coverage`: the coverage of tests carried over from the interrupted run
//! moves into the new run's directory with their results, so that the new run's merge covers
//! every test (and the old run's directory can be pruned).

use std::path::Path;

use super::Coverage;
use crate::events::TestResult;
use crate::state::test_slug;

/// Move the coverage directory of every carried result from `old_run_dir` into this run's and
/// point the result at it. Returns a warning for each directory that could not be moved (its
/// data stays where it was, and the result keeps pointing there).
pub fn carry_over(old_run_dir: &Path, cov: &Coverage, carried: &mut [TestResult]) -> Vec<String> {
    let mut warnings = Vec::new();
    for r in carried.iter_mut() {
        let from = old_run_dir.join("coverage").join(test_slug(&r.id));
        if !from.is_dir() {
            continue;
        }
        let to = cov.test_dir(&r.id);
        let moved = std::fs::create_dir_all(&cov.root)
            .and_then(|()| std::fs::rename(&from, &to))
            .map_err(|e| e.to_string());
        match moved {
            Ok(()) => r.coverage_dir = Some(to),
            Err(e) => {
                warnings.push(format!(
                    "--coverage: cannot move the coverage of {} from {} to {}: {e}; the merge \
                     leaves it out",
                    r.id,
                    from.display(),
                    to.display()
                ));
                r.coverage_dir = Some(from);
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Status;

    #[test]
    fn carried_coverage_moves_into_the_new_run() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("runs/old");
        let data = old.join("coverage/tests__a.sh/1-2.profraw");
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        std::fs::write(&data, "counts").unwrap();
        let cov = Coverage::new(&tmp.path().join("runs/new"), tmp.path());
        let mut carried = vec![
            TestResult::for_test("tests/a.sh", Status::Pass, 1),
            TestResult::for_test("tests/b.sh", Status::Pass, 1),
        ];
        assert!(carry_over(&old, &cov, &mut carried).is_empty());
        let moved = cov.test_dir("tests/a.sh");
        assert_eq!(carried[0].coverage_dir.as_deref(), Some(moved.as_path()));
        assert!(moved.join("1-2.profraw").is_file());
        assert!(!data.exists());
        assert_eq!(carried[1].coverage_dir, None);
    }
}
