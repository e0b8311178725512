//! Reading the case list a framework prints: one parser per `list_format`.

/// How the output of a suite's `list` command names the cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListFormat {
    /// One case a line (blank lines ignored, surrounding whitespace trimmed).
    #[default]
    Lines,
    /// libtest's `--list --format terse`: `name: test` lines (benchmarks are left out).
    Libtest,
    /// GoogleTest's `--gtest_list_tests`: `Suite.` then indented cases → `Suite.Case`.
    Gtest,
    /// `pytest --collect-only -q`: node ids `file::Class::test[param]` → `Class::test[param]`.
    Pytest,
}

impl ListFormat {
    pub const NAMES: &'static str = "lines, libtest, gtest or pytest";

    pub fn name(self) -> &'static str {
        match self {
            ListFormat::Lines => "lines",
            ListFormat::Libtest => "libtest",
            ListFormat::Gtest => "gtest",
            ListFormat::Pytest => "pytest",
        }
    }

    pub fn from_name(name: &str) -> Option<ListFormat> {
        Some(match name {
            "lines" => ListFormat::Lines,
            "libtest" => ListFormat::Libtest,
            "gtest" => ListFormat::Gtest,
            "pytest" => ListFormat::Pytest,
            _ => return None,
        })
    }

    /// The case names in `output`, in the order printed (duplicates kept: the caller
    /// reports them).
    pub fn parse(self, output: &str) -> Vec<String> {
        match self {
            ListFormat::Lines => output
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            ListFormat::Libtest => libtest(output, "test"),
            ListFormat::Gtest => gtest(output),
            ListFormat::Pytest => pytest(output),
        }
    }
}

/// `name: test` lines of libtest's terse list; `kind` is `test` (or `bench`).
pub fn libtest(output: &str, kind: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim_end().strip_suffix(kind)?.strip_suffix(": "))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

fn gtest(output: &str) -> Vec<String> {
    let mut cases = Vec::new();
    let mut suite: Option<String> = None;
    for line in output.lines() {
        // `  Case/0  # GetParam() = 1`, `Suite/Typed.  # TypeParam = int`
        let text = line.split("  #").next().unwrap_or("").trim_end();
        if text.trim().is_empty() {
            continue;
        }
        if !text.starts_with(' ') {
            // Only a line ending in `.` opens a suite: banners (`Running main() from ...`)
            // are not cases.
            suite = text.strip_suffix('.').map(str::to_string);
        } else if let Some(suite) = &suite {
            cases.push(format!("{suite}.{}", text.trim()));
        }
    }
    cases
}

fn pytest(output: &str) -> Vec<String> {
    output
        .lines()
        // The summary (`3 tests collected in 0.01s`) follows a blank line.
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.trim().split_once("::"))
        .map(|(_, case)| case.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_trim_and_skip_blanks() {
        let out = "  a case \n\n-dash\r\nsp ace::x\nünï\n";
        assert_eq!(
            ListFormat::Lines.parse(out),
            ["a case", "-dash", "sp ace::x", "ünï"]
        );
    }

    #[test]
    fn libtest_keeps_tests_not_benches_or_summaries() {
        let out = "tests::a: test\nbench_x: bench\nm::b: test\n\n2 tests, 1 benchmark\n";
        assert_eq!(ListFormat::Libtest.parse(out), ["tests::a", "m::b"]);
        assert_eq!(libtest(out, "bench"), ["bench_x"]);
    }

    #[test]
    fn gtest_joins_suites_and_cases_and_drops_comments() {
        let out = "Running main() from gtest_main.cc\nMath.\n  Adds\n  Subtracts\n\
                   Param/Sq.  # TypeParam = int\n  Is/0  # GetParam() = 1\n  Is/1  # GetParam() = 2\n";
        assert_eq!(
            ListFormat::Gtest.parse(out),
            [
                "Math.Adds",
                "Math.Subtracts",
                "Param/Sq.Is/0",
                "Param/Sq.Is/1"
            ]
        );
    }

    #[test]
    fn pytest_node_ids_lose_their_file() {
        let out = "t/test_a.py::test_one\nt/test_a.py::TestC::test_m[1-a b]\n\n2 tests collected in 0.01s\n";
        assert_eq!(
            ListFormat::Pytest.parse(out),
            ["test_one", "TestC::test_m[1-a b]"]
        );
        assert!(ListFormat::Pytest
            .parse("no tests ran in 0.01s\n")
            .is_empty());
    }

    #[test]
    fn names_are_known() {
        for n in ["lines", "libtest", "gtest", "pytest"] {
            assert!(ListFormat::from_name(n).is_some());
        }
        assert_eq!(ListFormat::from_name("junit"), None);
    }
}
