use std::path::PathBuf;

/// A configuration or option error: nothing can run (exit 2). Messages name the file and line
/// (`warden.toml:7: [run] timeout: ...`) or the option (`--timeout: ...`).
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
    /// A bad value given on the command line; `option` is `--kebab-case` (or `PATH`).
    #[error("{option}: {message}")]
    Option { option: String, message: String },
    /// Two options that contradict each other, both given at the same level.
    #[error("{first} and {second} cannot be used together: {reason}")]
    Conflict {
        first: String,
        second: String,
        reason: String,
    },
    #[error(
        "no tests to look for: none of test/, tests/ or t/ exists in {}; pass a PATH or set `paths` in [run] of warden.toml",
        cwd.display()
    )]
    NoTestPaths { cwd: PathBuf },
}
