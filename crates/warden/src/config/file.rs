//! `warden.toml` as written: typed tables for serde, plus a map from every key path to its line
//! so that errors found after deserialising (bad durations, bad globs, ...) still name the line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::ConfigError;
use super::options::RunOptions;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTables {
    run: Option<RunOptions>,
    #[serde(default)]
    suite: Vec<SuiteTable>,
    levels: Option<BTreeMap<String, Vec<String>>>,
    container: Option<toml::Value>,
}

/// One `[[suite]]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuiteTable {
    pub name: Option<String>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub format: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub timeout: Option<String>,
    pub mem_limit: Option<String>,
    pub net: Option<String>,
    pub skip_exit_codes: Option<Vec<i64>>,
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// Builds a key path: `key_path!["suite", 2, "timeout"]`.
macro_rules! key_path {
    ($($seg:expr),* $(,)?) => { [$($crate::config::file::Seg::from($seg)),*] };
}
pub(crate) use key_path;

#[derive(Debug)]
struct Entry {
    path: Vec<Seg>,
    key_span: Range<usize>,
    value_span: Range<usize>,
    /// The value when it is a string: lets `[[suite]]` errors say the suite's name.
    text: Option<String>,
}

/// A parsed `warden.toml`.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    /// Absolute path.
    pub path: PathBuf,
    /// How messages name the file (relative to the working directory when inside it).
    pub shown: String,
    pub run: RunOptions,
    pub suites: Vec<SuiteTable>,
    pub levels: Option<BTreeMap<String, Vec<String>>>,
    pub container: Option<toml::Value>,
    entries: Vec<Entry>,
    /// Byte offset of the start of every line, for offset → line.
    line_starts: Vec<usize>,
}

impl ConfigFile {
    /// Reads and parses `path`; every failure names the file, and the line when there is one.
    pub fn load(path: &Path, shown: String) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ConfigFile::parse(path, shown, &text)
    }

    pub fn parse(path: &Path, shown: String, text: &str) -> Result<ConfigFile, ConfigError> {
        let mut file = ConfigFile {
            path: path.to_path_buf(),
            shown,
            run: RunOptions::default(),
            suites: Vec::new(),
            levels: None,
            container: None,
            entries: Vec::new(),
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        };
        match DeTable::parse(text) {
            Ok(doc) => index_table(doc.get_ref(), &mut Vec::new(), &mut file.entries),
            Err(e) => return Err(file.syntax_error(&e)),
        }
        let tables: FileTables = toml::from_str(text).map_err(|e| file.syntax_error(&e))?;
        file.run = tables.run.unwrap_or_default();
        file.suites = tables.suite;
        file.levels = tables.levels;
        file.container = tables.container;
        if file.container.as_ref().is_some_and(|c| !c.is_table()) {
            return Err(file.error_at(&key_path!["container"], "must be a table: [container]"));
        }
        Ok(file)
    }

    /// An error at `path` (a key path), e.g. `warden.toml:7: [run] timeout: invalid duration`.
    pub fn error_at(&self, path: &[Seg], message: impl std::fmt::Display) -> ConfigError {
        ConfigError::File {
            file: self.shown.clone(),
            line: self.line_of(path),
            message: format!("{}: {message}", self.describe(path)),
        }
    }

    /// Line of the key at `path`, or of its nearest ancestor that is written down.
    pub fn line_of(&self, path: &[Seg]) -> usize {
        (0..=path.len())
            .rev()
            .find_map(|n| self.entries.iter().find(|e| e.path == path[..n]))
            .map(|e| self.line_at(e.key_span.start))
            .unwrap_or(1)
    }

    /// `[run] timeout`, `[[suite]] "spl" env.HOME`, `[[suite]] #2 include[1]`, `[levels] unit`.
    pub fn describe(&self, path: &[Seg]) -> String {
        let rest = |segs: &[Seg]| {
            let mut s = String::new();
            for seg in segs {
                match seg {
                    Seg::Key(k) if s.is_empty() => s.push_str(k),
                    Seg::Key(k) => {
                        s.push('.');
                        s.push_str(k);
                    }
                    Seg::Index(i) => s.push_str(&format!("[{i}]")),
                }
            }
            s
        };
        let joined = |head: String, tail: String| match tail.is_empty() {
            true => head,
            false => format!("{head} {tail}"),
        };
        match path {
            [Seg::Key(k), Seg::Index(i), tail @ ..] if k == "suite" => {
                let name_path = key_path!["suite", *i, "name"];
                let head = match self.entries.iter().find(|e| e.path == name_path) {
                    Some(Entry {
                        text: Some(name), ..
                    }) => format!("[[suite]] {name:?}"),
                    _ => format!("[[suite]] #{}", i + 1),
                };
                joined(head, rest(tail))
            }
            [Seg::Key(k), tail @ ..] if matches!(k.as_str(), "run" | "levels" | "container") => {
                joined(format!("[{k}]"), rest(tail))
            }
            other => rest(other),
        }
    }

    fn line_at(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .max(1)
    }

    /// The deepest written key whose key or value contains `offset`.
    fn path_at(&self, offset: usize) -> Option<&[Seg]> {
        let contains = |r: &Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        self.entries
            .iter()
            .filter(|e| contains(&e.key_span) || contains(&e.value_span))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.as_slice())
    }

    /// Turns a toml/serde error into one that names the line and the key, in our words.
    fn syntax_error(&self, e: &toml::de::Error) -> ConfigError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let line = self.line_at(offset);
        let raw = e.message().trim().to_string();
        let path = self.path_at(offset).map(<[Seg]>::to_vec);
        let message = match (raw.strip_prefix("unknown field `"), &path) {
            (Some(rest), Some(path)) => {
                let key = rest.split('`').next().unwrap_or_default();
                let table = &path[..path.len().saturating_sub(1)];
                let place = match self.describe(table) {
                    t if t.is_empty() => "at the top level".to_string(),
                    t => format!("in {t}"),
                };
                let expected = expected_names(rest);
                let hint = match closest(key, &expected) {
                    Some(best) => format!(", did you mean `{best}`?"),
                    None if expected.len() <= 10 && !expected.is_empty() => {
                        format!(" (known keys: {})", expected.join(", "))
                    }
                    None => String::new(),
                };
                format!("unknown key `{key}` {place}{hint}")
            }
            (_, Some(path)) if path.as_slice() == key_path!["suite"].as_slice() => {
                format!("`suite` must be written as [[suite]] tables: {raw}")
            }
            (_, Some(path)) => format!("{}: {raw}", self.describe(path)),
            (_, None) => raw,
        };
        ConfigError::File {
            file: self.shown.clone(),
            line,
            message,
        }
    }
}

fn index_table(table: &DeTable<'_>, prefix: &mut Vec<Seg>, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        prefix.push(Seg::Key(key.get_ref().to_string()));
        index_value(key.span(), value, prefix, out);
        prefix.pop();
    }
}

fn index_value(
    key_span: Range<usize>,
    value: &Spanned<DeValue<'_>>,
    prefix: &mut Vec<Seg>,
    out: &mut Vec<Entry>,
) {
    out.push(Entry {
        path: prefix.clone(),
        key_span: key_span.clone(),
        value_span: value.span(),
        text: value.get_ref().as_str().map(str::to_string),
    });
    match value.get_ref() {
        DeValue::Table(t) => index_table(t, prefix, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                prefix.push(Seg::Index(i));
                // An array element has no key of its own; its value is where it is written.
                index_value(item.span(), item, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The backticked names after "expected" in serde's unknown-field message.
fn expected_names(rest: &str) -> Vec<String> {
    let Some((_, list)) = rest.split_once("expected") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The known name within edit distance 2 of `typed` (and closer than half its length).
fn closest(typed: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (edit_distance(typed, k), k))
        .filter(|(d, _)| *d <= 2 && *d * 2 < typed.len().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(Path::new("/p/warden.toml"), "warden.toml".into(), text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_table() {
        let f = parse(
            r#"
[run]
paths = ["test"]
max_workers = 4
timeout = "60s"

[[suite]]
name = "spl"
include = ["**/*_spec.spl"]
command = ["bin/simple", "{path}"]
env = { RUST_BACKTRACE = "1" }

[levels]
unit = ["unit", "fast"]

[container]
image = "debian"
"#,
        )
        .unwrap();
        assert_eq!(f.run.max_workers, Some(4));
        assert_eq!(f.run.timeout.as_deref(), Some("60s"));
        assert_eq!(f.suites.len(), 1);
        assert_eq!(f.suites[0].env.as_ref().unwrap()["RUST_BACKTRACE"], "1");
        assert_eq!(f.levels.as_ref().unwrap()["unit"], vec!["unit", "fast"]);
        assert_eq!(
            f.container.as_ref().unwrap().get("image").unwrap().as_str(),
            Some("debian")
        );
        assert_eq!(f.line_of(&key_path!["run", "timeout"]), 5);
        assert_eq!(f.line_of(&key_path!["suite", 0, "command", 1]), 10);
        assert_eq!(f.line_of(&key_path!["levels", "unit"]), 14);
        assert_eq!(
            f.describe(&key_path!["suite", 0, "env", "RUST_BACKTRACE"]),
            "[[suite]] \"spl\" env.RUST_BACKTRACE"
        );
    }

    #[test]
    fn unknown_keys_name_line_table_and_suggestion() {
        let e = parse("[run]\nmax_workers = 2\ntimout = \"1s\"\n").unwrap_err();
        assert_eq!(
            e,
            "warden.toml:3: unknown key `timout` in [run], did you mean `timeout`?"
        );
        let e = parse("[[suite]]\nname = \"a\"\n[[suite]]\nname = \"b\"\nfoo = 1\n").unwrap_err();
        assert!(
            e.starts_with("warden.toml:5: unknown key `foo` in [[suite]] \"b\" (known keys: "),
            "{e}"
        );
        let e = parse("bogus = 1\n").unwrap_err();
        assert!(
            e.starts_with("warden.toml:1: unknown key `bogus` at the top level"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_name_line_and_key() {
        let e = parse("[run]\n\nmax_workers = \"4\"\n").unwrap_err();
        assert_eq!(
            e,
            "warden.toml:3: [run] max_workers: invalid type: string \"4\", expected usize"
        );
        let e = parse("[[suite]]\nenv = { A = 1 }\n").unwrap_err();
        assert!(
            e.starts_with("warden.toml:2: [[suite]] #1 env.A: invalid type"),
            "{e}"
        );
        let e = parse("[run]\ntag = [\"a\",\n  2]\n").unwrap_err();
        assert!(
            e.starts_with("warden.toml:3: [run] tag[1]: invalid type"),
            "{e}"
        );
        let e = parse("\ncontainer = \"docker\"\n").unwrap_err();
        assert_eq!(
            e,
            "warden.toml:2: [container]: must be a table: [container]"
        );
        let e = parse("[suite]\nname = \"a\"\n").unwrap_err();
        assert!(e.contains("[[suite]]"), "{e}");
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let e = parse("[run]\nmax_workers = 2\ntimeout = \n").unwrap_err();
        assert!(e.starts_with("warden.toml:3: "), "{e}");
        let e = parse("[run\n").unwrap_err();
        assert!(e.starts_with("warden.toml:1: "), "{e}");
        let e = parse("[run]\na = 1\na = 2\n").unwrap_err();
        assert!(e.starts_with("warden.toml:3: "), "{e}");
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("x", &["max_workers".into()]), None);
    }
}
