//! Lexical path helpers. Paths are never canonicalised: a symlinked directory keeps the name
//! the user sees, and ids stay stable across machines that mount things differently.

use std::path::{Component, Path, PathBuf};

/// `base.join(path)` with `.` removed and `..` applied lexically.
pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    normalize(&base.join(path))
}

/// Removes `.` and resolves `..` against the preceding component (never above the root).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let popped =
                    matches!(out.components().next_back(), Some(Component::Normal(_))) && out.pop();
                if !popped && !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `path` relative to `base` (both absolute and normalised), `/`-separated, with `../` steps
/// when `path` is outside `base`; `.` when they are equal.
pub fn relative_id(path: &Path, base: &Path) -> String {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = Vec::new();
    parts.extend(std::iter::repeat_n("..".to_string(), b.len() - common));
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
        assert_eq!(normalize(Path::new("./")), PathBuf::from("."));
        assert_eq!(
            absolute(Path::new("/w/sub"), Path::new("../test")),
            PathBuf::from("/w/test")
        );
        assert_eq!(
            absolute(Path::new("/w"), Path::new("/abs/x")),
            PathBuf::from("/abs/x")
        );
    }

    #[test]
    fn ids_are_relative_with_slashes() {
        let id = |p: &str, b: &str| relative_id(Path::new(p), Path::new(b));
        assert_eq!(id("/w/test/unit/a_test.sh", "/w"), "test/unit/a_test.sh");
        assert_eq!(id("/w/other/a_test.sh", "/w/sub"), "../other/a_test.sh");
        assert_eq!(id("/x/a.t", "/w/sub"), "../../x/a.t");
        assert_eq!(id("/w", "/w"), ".");
        assert_eq!(id("/w/a b/it's $x.t", "/w"), "a b/it's $x.t");
    }
}
