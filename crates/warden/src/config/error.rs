//! Configuration errors name options by their key (the `RunOptions` field, which is also the
//! `[run]` key of `warden.toml`), never by a command-line flag: how an option is spelled on the
//! command line is the CLI's business. [`ConfigError::render`] takes the CLI's spelling;
//! `Display` says everything in `warden.toml` words.

use std::fmt;
use std::path::PathBuf;

/// A configuration or option error: nothing can run (exit 2). Messages name the file and line
/// (`warden.toml:7: [run] timeout: ...`) or the option (`timeout: ...`, which the CLI shows as
/// `--timeout: ...`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Anything wrong inside `warden.toml`: syntax, unknown key, type, value.
    #[error("{file}:{line}: {message}")]
    File {
        file: String,
        line: usize,
        message: String,
    },
    /// A bad value given on the command line (or kept from the run `--resume` continues).
    #[error("{key}: {}", message.render(&toml_words))]
    Option { key: OptionKey, message: Message },
    /// Two options that contradict each other, both given at the same level.
    #[error("{}", .0.render(&key_only, &toml_words))]
    Conflict(Box<Conflict>),
    #[error(
        "no tests to look for: none of test/, tests/ or t/ exists in {}; pass a PATH or set `paths` in [run] of warden.toml",
        cwd.display()
    )]
    NoTestPaths { cwd: PathBuf },
}

impl ConfigError {
    /// The message with options given on the command line spelled by `flag` (the CLI knows
    /// its flags); options written in `warden.toml` keep their keys, as `Display` has them.
    pub fn render(&self, flag: &dyn Fn(OptionKey, Form) -> String) -> String {
        match self {
            ConfigError::Option { key, message } => {
                format!("{}: {}", flag(*key, Form::Long), message.render(flag))
            }
            ConfigError::Conflict(c) => {
                // Both sides come from one level: the file's words, or the command line's.
                let words: &dyn Fn(OptionKey, Form) -> String = match c.first.at {
                    Some(_) => &toml_words,
                    None => flag,
                };
                c.render(flag, words)
            }
            other => other.to_string(),
        }
    }
}

/// An option, by its key: `max_workers`, `paths`, `cargo_args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionKey {
    pub key: &'static str,
    /// Given as its opposite: `parallel = false`, which the command line spells `--sequential`.
    pub negated: bool,
}

impl OptionKey {
    pub const fn new(key: &'static str) -> OptionKey {
        OptionKey {
            key,
            negated: false,
        }
    }

    pub const fn negated(key: &'static str) -> OptionKey {
        OptionKey { key, negated: true }
    }
}

impl fmt::Display for OptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.negated {
            true => write!(f, "{} = false", self.key),
            false => f.write_str(self.key),
        }
    }
}

/// How a message names an option it mentions: by its long name, or by its short one where the
/// command line has one (`-k`); `warden.toml` has only keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Long,
    Short,
}

/// An option in `warden.toml` words: `` `max_workers` ``, `` `parallel = false` ``.
pub fn toml_words(key: OptionKey, _: Form) -> String {
    format!("`{key}`")
}

/// The key alone, for where the backticks are already around it.
fn key_only(key: OptionKey, _: Form) -> String {
    key.to_string()
}

/// Two options that contradict each other, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub first: Mention,
    pub second: Mention,
    pub reason: Message,
}

impl Conflict {
    /// `name` spells the two options (inside backticks), `words` those the reason mentions.
    fn render(
        &self,
        name: &dyn Fn(OptionKey, Form) -> String,
        words: &dyn Fn(OptionKey, Form) -> String,
    ) -> String {
        format!(
            "{} and {} cannot be used together: {}",
            self.first.render(name),
            self.second.render(name),
            self.reason.render(words)
        )
    }
}

/// One side of a [`Conflict`]: the option, and where in `warden.toml` it is
/// written when it comes from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub key: OptionKey,
    /// `(file as shown, line)`.
    pub at: Option<(String, usize)>,
}

impl Mention {
    /// `` `--quiet` `` on the command line, `` `quiet` (warden.toml:3) `` in the file.
    fn render(&self, flag: &dyn Fn(OptionKey, Form) -> String) -> String {
        match &self.at {
            Some((file, line)) => format!("`{}` ({file}:{line})", self.key.key),
            None => format!("`{}`", flag(self.key, Form::Long)),
        }
    }
}

/// Text that may mention options; each reader spells them its own way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Option(OptionKey, Form),
}

impl Message {
    pub fn new() -> Message {
        Message::default()
    }

    pub fn text(mut self, text: impl Into<String>) -> Message {
        self.0.push(Piece::Text(text.into()));
        self
    }

    /// Mentions `key` by its long name.
    pub fn option(mut self, key: OptionKey) -> Message {
        self.0.push(Piece::Option(key, Form::Long));
        self
    }

    /// Mentions `key` by its short name where it has one.
    pub fn short(mut self, key: OptionKey) -> Message {
        self.0.push(Piece::Option(key, Form::Short));
        self
    }

    pub fn render(&self, name: &dyn Fn(OptionKey, Form) -> String) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Option(key, form) => name(*key, *form),
            })
            .collect()
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::new().text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::new().text(text)
    }
}

/// In `warden.toml` words.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&toml_words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(key: OptionKey, form: Form) -> String {
        match (key.key, key.negated, form) {
            ("parallel", true, _) => "--sequential".into(),
            ("filter", _, Form::Short) => "-k".into(),
            (k, _, _) => format!("--{}", k.replace('_', "-")),
        }
    }

    #[test]
    fn options_are_keys_until_the_cli_spells_them() {
        let e = ConfigError::Option {
            key: OptionKey::new("container_image"),
            message: Message::new()
                .text("only used with ")
                .option(OptionKey::new("container"))
                .text(", tests with ")
                .short(OptionKey::new("filter")),
        };
        assert_eq!(
            e.to_string(),
            "container_image: only used with `container`, tests with `filter`"
        );
        assert_eq!(
            e.render(&flag),
            "--container-image: only used with --container, tests with -k"
        );
    }

    #[test]
    fn a_conflict_in_the_file_keeps_file_words() {
        let reason = Message::new()
            .option(OptionKey::negated("parallel"))
            .text(" means exactly one worker");
        let cli = ConfigError::Conflict(Box::new(Conflict {
            first: Mention {
                key: OptionKey::negated("parallel"),
                at: None,
            },
            second: Mention {
                key: OptionKey::new("max_workers"),
                at: None,
            },
            reason: reason.clone(),
        }));
        assert_eq!(
            cli.render(&flag),
            "`--sequential` and `--max-workers` cannot be used together: --sequential means \
             exactly one worker"
        );
        assert_eq!(
            cli.to_string(),
            "`parallel = false` and `max_workers` cannot be used together: `parallel = false` \
             means exactly one worker"
        );
        let file = ConfigError::Conflict(Box::new(Conflict {
            first: Mention {
                key: OptionKey::negated("parallel"),
                at: Some(("warden.toml".into(), 2)),
            },
            second: Mention {
                key: OptionKey::new("max_workers"),
                at: Some(("warden.toml".into(), 3)),
            },
            reason,
        }));
        assert_eq!(file.render(&flag), file.to_string());
        assert_eq!(
            file.to_string(),
            "`parallel` (warden.toml:2) and `max_workers` (warden.toml:3) cannot be used \
             together: `parallel = false` means exactly one worker"
        );
    }
}
