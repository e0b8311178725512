//! `@tags`, `@slow`, `@skip`, `@timeout`, `@serial`, `@level`, `@mem-limit`, `@net` in the comments at the top of a
//! test file, whatever the language: a marker is recognised after any common comment leader.

use std::time::Duration;

use crate::config::Levels;
use crate::supervise::Network;
use crate::units::{parse_duration, parse_size};

/// Markers are looked for in this many lines at the top of a file...
pub const MARKER_LINES: usize = 40;
/// ...and in at most this many bytes of it.
pub const MARKER_BYTES: usize = 16 * 1024;

/// Longest first, so that `//` is not taken for `/` and `<!--` wins over nothing.
const LEADERS: [&str; 7] = ["<!--", "//", "--", "/*", "#", ";", "*"];

/// What the markers of one file say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    pub tags: Vec<String>,
    pub slow: bool,
    pub skip: Option<String>,
    pub timeout: Option<Duration>,
    pub serial: bool,
    pub level: Option<String>,
    /// `@mem-limit: 512M`, in bytes.
    pub mem_limit: Option<u64>,
    /// `@net: private` or `@net: host`.
    pub net: Option<Network>,
}

/// A marker whose value makes no sense; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerError {
    pub line: usize,
    pub message: String,
}

/// Reads the markers in the first [`MARKER_LINES`] lines of `head`. Unknown `@words` (JSDoc's
/// `@param`, ...) are not markers and are ignored; known markers with bad values are errors.
pub fn parse_markers(head: &str, levels: &Levels) -> Result<Markers, MarkerError> {
    let mut m = Markers::default();
    for (i, line) in head.lines().take(MARKER_LINES).enumerate() {
        let Some((name, value)) = marker_in(line) else {
            continue;
        };
        let fail = |message: String| MarkerError {
            line: i + 1,
            message,
        };
        let flag = |set: &mut bool| match value.is_empty() {
            true => {
                *set = true;
                Ok(())
            }
            false => Err(fail(format!("`@{name}` takes no value, found `{value}`"))),
        };
        match name {
            "tags" | "tag" => {
                for tag in value.split(|c: char| c == ',' || c.is_whitespace()) {
                    if !tag.is_empty() && !m.tags.iter().any(|t| t == tag) {
                        m.tags.push(tag.to_string());
                    }
                }
                if value
                    .trim_matches(|c: char| c == ',' || c.is_whitespace())
                    .is_empty()
                {
                    return Err(fail(format!("`@{name}` needs at least one tag")));
                }
            }
            "slow" => flag(&mut m.slow)?,
            "serial" => flag(&mut m.serial)?,
            "skip" | "pending" => m.skip = Some(value.to_string()),
            "timeout" => {
                let d = parse_duration(value).map_err(|e| fail(format!("bad `@timeout`: {e}")))?;
                if d.is_zero() {
                    return Err(fail(format!(
                        "bad `@timeout`: `{value}` must be greater than 0"
                    )));
                }
                m.timeout = Some(d);
            }
            "mem-limit" | "mem_limit" => {
                let bytes =
                    parse_size(value).map_err(|e| fail(format!("bad `@mem-limit`: {e}")))?;
                if bytes < crate::config::MIN_TEST_MEM_LIMIT {
                    return Err(fail(format!(
                        "bad `@mem-limit`: `{value}` is too small: at least 1M (a size takes a \
                         unit: 512M, 2G)"
                    )));
                }
                m.mem_limit = Some(bytes);
            }
            "net" => {
                m.net = Some(Network::parse(value).map_err(|e| fail(format!("bad `@net`: {e}")))?);
            }
            "level" => {
                if !levels.contains(value) {
                    let known: Vec<&str> = levels.names().collect();
                    return Err(fail(format!(
                        "unknown `@level` `{value}` (known: {})",
                        known.join(", ")
                    )));
                }
                m.level = Some(value.to_string());
            }
            _ => {}
        }
    }
    Ok(m)
}

/// `(name, value)` when `line` is a comment holding `@name` or `@name: value`.
fn marker_in(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    let leader = LEADERS.iter().find(|l| line.starts_with(*l))?;
    // `##`, `///`, `//!`, `/**`, `;;` and the like are still comments.
    let rest = line[leader.len()..].trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '#' | '/' | '*' | '!' | ';' | '-')
    });
    let rest = rest.strip_prefix('@')?;
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(name_len);
    if name.is_empty() {
        return None;
    }
    let value = match after.strip_prefix(':') {
        Some(v) => v,
        None if after.is_empty() || after.starts_with(char::is_whitespace) => after,
        // `@slow.x`, `@slow@x`: not a marker name followed by a value.
        None => return None,
    };
    let value = value.trim();
    let value = value
        .strip_suffix("*/")
        .or_else(|| value.strip_suffix("-->"))
        .unwrap_or(value)
        .trim();
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Markers, MarkerError> {
        parse_markers(text, &Levels::default())
    }

    #[test]
    fn every_marker_in_every_comment_style() {
        let m = parse(
            "#!/bin/sh\n# @tags: smoke, db\n// @tag net\n-- @slow\n; @serial\n/* @timeout: 30s */\n \
             * @level: integration\n<!-- @skip: broken on CI -->\n",
        )
        .unwrap();
        assert_eq!(m.tags, ["smoke", "db", "net"]);
        assert!(m.slow && m.serial);
        assert_eq!(m.timeout, Some(Duration::from_secs(30)));
        assert_eq!(m.level.as_deref(), Some("integration"));
        assert_eq!(m.skip.as_deref(), Some("broken on CI"));
        assert_eq!(m.mem_limit, None);
        assert_eq!(m.net, None);
        assert_eq!(
            parse("# @net: private\n").unwrap().net,
            Some(Network::Private)
        );
        assert_eq!(parse("// @net: host\n").unwrap().net, Some(Network::Host));
        let m = parse("# @mem-limit: 512M\n").unwrap();
        assert_eq!(m.mem_limit, Some(512 << 20));
        let m = parse("// @mem_limit: 2G\n").unwrap();
        assert_eq!(m.mem_limit, Some(2 << 30));
    }

    #[test]
    fn doubled_leaders_and_pending_without_reason() {
        let m =
            parse("## @pending\n/// @tags:a,b\n//! @serial\n;; @slow\n/** @tag c */\n").unwrap();
        assert_eq!(m.skip.as_deref(), Some(""));
        assert_eq!(m.tags, ["a", "b", "c"]);
        assert!(m.serial && m.slow);
    }

    #[test]
    fn not_markers() {
        let m = parse(
            "echo \"@slow\"\nx = 1 # not @slow at start\n/** @param x the thing */\n\
             # @slowly\n# email@slow.com\n# @slow.x\n",
        )
        .unwrap();
        assert_eq!(m, Markers::default());
    }

    #[test]
    fn only_the_first_40_lines_count() {
        let mut text = "x\n".repeat(39);
        text.push_str("# @slow\n# @serial\n");
        let m = parse(&text).unwrap();
        assert!(m.slow, "line 40 counts");
        assert!(!m.serial, "line 41 does not");
    }

    #[test]
    fn bad_values_name_the_line() {
        let cases = [
            (
                "# ok\n# @timeout: soon\n",
                2,
                "bad `@timeout`: invalid duration `soon`",
            ),
            (
                "# @timeout: 0s\n",
                1,
                "bad `@timeout`: `0s` must be greater than 0",
            ),
            (
                "\n\n# @level: smoke\n",
                3,
                "unknown `@level` `smoke` (known: unit, integration, system)",
            ),
            ("# @tags:\n", 1, "`@tags` needs at least one tag"),
            ("# @mem-limit: lots\n", 1, "bad `@mem-limit`: "),
            (
                "# @net: none\n",
                1,
                "bad `@net`: unknown network `none` (expected `host` or `private`)",
            ),
            (
                "# @mem-limit: 0\n",
                1,
                "bad `@mem-limit`: `0` is too small: at least 1M (a size takes a unit: 512M, 2G)",
            ),
            ("# @slow: yes\n", 1, "`@slow` takes no value, found `yes`"),
            ("# @serial please\n", 1, "`@serial` takes no value"),
        ];
        for (text, line, message) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}");
            assert!(
                err.message.starts_with(message),
                "{text:?}: {}",
                err.message
            );
        }
    }
}
