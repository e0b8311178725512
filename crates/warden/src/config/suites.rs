//! `[[suite]]` and `[levels]` tables → [`Suite`]s and [`Levels`], each bad value named by line.

use std::path::Path;

use super::error::ConfigError;
use super::file::{key_path, ConfigFile, SuiteTable};
use super::paths::absolute;
use super::settings::{compile_glob, Levels, Suite, DEFAULT_INCLUDE};
use crate::supervise::Network;
use crate::test_case::OutputFormat;
use crate::units::{parse_duration, parse_size};

/// The configured suites in file order, or the built-in suite when there are none.
pub(crate) fn resolve_suites(
    file: Option<&ConfigFile>,
    root: &Path,
) -> Result<Vec<Suite>, ConfigError> {
    let Some(file) = file.filter(|f| !f.suites.is_empty()) else {
        return Ok(vec![Suite::builtin()]);
    };
    let mut suites: Vec<Suite> = Vec::new();
    for (i, table) in file.suites.iter().enumerate() {
        let suite = resolve_suite(file, i, table, root)?;
        if let Some(j) = suites.iter().position(|s| s.name == suite.name) {
            return Err(file.error_at(
                &key_path!["suite", i, "name"],
                format!(
                    "duplicate suite name `{}` (also [[suite]] #{})",
                    suite.name,
                    j + 1
                ),
            ));
        }
        suites.push(suite);
    }
    Ok(suites)
}

fn resolve_suite(
    file: &ConfigFile,
    i: usize,
    table: &SuiteTable,
    root: &Path,
) -> Result<Suite, ConfigError> {
    let at = |key: &str| key_path!["suite", i, key];
    let name = match &table.name {
        Some(n) if n.trim().is_empty() => return Err(file.error_at(&at("name"), "empty name")),
        Some(n) => n.trim().to_string(),
        None => format!("suite-{}", i + 1),
    };
    let include = match &table.include {
        None => DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect(),
        Some(globs) if globs.is_empty() => {
            return Err(file.error_at(&at("include"), "empty list: the suite would claim no file"))
        }
        Some(globs) => globs.clone(),
    };
    let exclude = table.exclude.clone().unwrap_or_default();
    for (key, globs) in [("include", &include), ("exclude", &exclude)] {
        for (j, glob) in globs.iter().enumerate() {
            if let Err(e) = compile_glob(glob) {
                let why = e.kind().to_string();
                return Err(file.error_at(
                    &key_path!["suite", i, key, j],
                    format!("bad glob `{glob}`: {why}"),
                ));
            }
        }
    }
    let mut suite = Suite::new(name, include, exclude)
        .map_err(|e| file.error_at(&at("include"), format!("bad glob: {e}")))?;

    if let Some(command) = &table.command {
        suite.command = Some(resolve_command(file, i, command, root)?);
    }
    if let Some(format) = &table.format {
        suite.format = match format.as_str() {
            "auto" => OutputFormat::Auto,
            "exit-code" => OutputFormat::ExitCode,
            "tap" => OutputFormat::Tap,
            other => {
                return Err(file.error_at(
                    &at("format"),
                    format!("unknown format `{other}` (expected auto, exit-code or tap)"),
                ))
            }
        };
    }
    for (key, value) in table.env.iter().flatten() {
        let env_at = key_path!["suite", i, "env", key.as_str()];
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(file.error_at(
                &env_at,
                "not a valid environment variable name (empty, or has `=` or NUL)",
            ));
        }
        if value.contains('\0') {
            return Err(file.error_at(&env_at, "value contains a NUL byte"));
        }
    }
    suite.env = table.env.clone().unwrap_or_default();
    if let Some(text) = &table.timeout {
        let timeout = parse_duration(text).map_err(|e| file.error_at(&at("timeout"), e))?;
        if timeout.is_zero() {
            return Err(file.error_at(&at("timeout"), format!("`{text}`: must be greater than 0")));
        }
        suite.timeout = Some(timeout);
    }
    if let Some(text) = &table.mem_limit {
        let bytes = parse_size(text).map_err(|e| file.error_at(&at("mem_limit"), e))?;
        if bytes < super::protect::MIN_TEST_MEM_LIMIT {
            return Err(file.error_at(
                &at("mem_limit"),
                format!("`{text}` is too small: at least 1M (a size takes a unit: 512M, 2G)"),
            ));
        }
        suite.mem_limit = Some(bytes);
    }
    if let Some(text) = &table.net {
        suite.net = Some(Network::parse(text).map_err(|e| file.error_at(&at("net"), e))?);
    }
    if let Some(codes) = &table.skip_exit_codes {
        let mut skip = Vec::new();
        for (j, &code) in codes.iter().enumerate() {
            // 0 is a pass, and a process cannot exit with more than 255.
            let code = i32::try_from(code).ok().filter(|c| (1..=255).contains(c));
            let Some(code) = code else {
                return Err(file.error_at(
                    &key_path!["suite", i, "skip_exit_codes", j],
                    format!("`{}`: an exit code that means skip is 1 to 255", codes[j]),
                ));
            };
            if !skip.contains(&code) {
                skip.push(code);
            }
        }
        suite.skip_exit_codes = skip;
    }
    Ok(suite)
}

/// Checks an argv template; a relative program with a `/` (`bin/simple`) is made absolute
/// against the project root so that it does not depend on where the test runs.
fn resolve_command(
    file: &ConfigFile,
    i: usize,
    command: &[String],
    root: &Path,
) -> Result<Vec<String>, ConfigError> {
    let Some(program) = command.first() else {
        return Err(file.error_at(&key_path!["suite", i, "command"], "empty command"));
    };
    if program.trim().is_empty() {
        return Err(file.error_at(&key_path!["suite", i, "command", 0], "empty program name"));
    }
    if let Some(j) = command.iter().position(|a| a.contains('\0')) {
        return Err(file.error_at(
            &key_path!["suite", i, "command", j],
            "argument contains a NUL byte",
        ));
    }
    let mut argv = command.to_vec();
    let relative_with_dir = program.contains('/') && !Path::new(program).is_absolute();
    if relative_with_dir && !program.contains('{') {
        argv[0] = absolute(root, Path::new(program))
            .to_string_lossy()
            .into_owned();
    }
    Ok(argv)
}

/// The default levels with `[levels]` entries replacing or adding to them.
pub(crate) fn resolve_levels(file: Option<&ConfigFile>) -> Result<Levels, ConfigError> {
    let mut entries = Levels::default().entries().to_vec();
    let Some((file, table)) = file.and_then(|f| f.levels.as_ref().map(|t| (f, t))) else {
        return Ok(Levels::default());
    };
    for (level, dirs) in table {
        if level.trim().is_empty() {
            return Err(file.error_at(&key_path!["levels", level.as_str()], "empty level name"));
        }
        for (j, dir) in dirs.iter().enumerate() {
            if dir.is_empty() || dir.contains('/') || dir == "." || dir == ".." {
                return Err(file.error_at(
                    &key_path!["levels", level.as_str(), j],
                    format!("`{dir}` is not a directory name (one path component)"),
                ));
            }
        }
        match entries.iter_mut().find(|(l, _)| l == level) {
            Some(entry) => entry.1 = dirs.clone(),
            None => entries.push((level.clone(), dirs.clone())),
        }
    }
    Levels::new(entries).map_err(|why| {
        let hint = "; a default can be freed with e.g. `system = []`";
        file.error_at(&key_path!["levels"], format!("{why}{hint}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(text: &str) -> ConfigFile {
        ConfigFile::parse(Path::new("/p/warden.toml"), "warden.toml".into(), text).unwrap()
    }

    fn suites(text: &str) -> Result<Vec<Suite>, String> {
        resolve_suites(Some(&file(text)), Path::new("/p")).map_err(|e| e.to_string())
    }

    #[test]
    fn no_suite_means_the_builtin_one() {
        let s = suites("[run]\n").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "default");
        assert!(s[0].matches("x/a_test.sh"));
        let s = resolve_suites(None, Path::new("/p")).unwrap();
        assert_eq!(s[0].include, DEFAULT_INCLUDE);
    }

    #[test]
    fn suites_resolve_every_field() {
        let s = suites(
            r#"
[[suite]]
name = "spl"
include = ["**/*_spec.spl"]
exclude = ["**/fixtures/**"]
command = ["bin/simple", "--file={path}", "{name}"]
format = "tap"
env = { RUST_BACKTRACE = "1" }
timeout = "300s"
mem_limit = "512M"
net = "private"
skip_exit_codes = [4, 5, 4]

[[suite]]
command = ["python3", "{path}"]
"#,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "spl");
        assert!(s[0].matches("a/b_spec.spl"));
        assert!(!s[0].matches("fixtures/b_spec.spl"));
        assert_eq!(
            s[0].command.as_deref().unwrap(),
            ["/p/bin/simple", "--file={path}", "{name}"]
        );
        assert_eq!(s[0].format, OutputFormat::Tap);
        assert_eq!(s[0].env["RUST_BACKTRACE"], "1");
        assert_eq!(s[0].timeout, Some(Duration::from_secs(300)));
        assert_eq!(s[0].mem_limit, Some(512 << 20));
        assert_eq!(s[1].mem_limit, None);
        assert_eq!(s[0].net, Some(Network::Private));
        assert_eq!(s[1].net, None);
        assert_eq!(s[0].skip_exit_codes, [4, 5]);
        assert_eq!(s[1].skip_exit_codes, [77]);
        assert_eq!(s[1].name, "suite-2");
        assert_eq!(s[1].include, DEFAULT_INCLUDE);
        assert_eq!(s[1].command.as_deref().unwrap(), ["python3", "{path}"]);
        assert_eq!(s[1].format, OutputFormat::Auto);
    }

    #[test]
    fn bad_suite_values_name_line_and_key() {
        let cases = [
            (
                "[[suite]]\nname = \"a\"\ncommand = []\n",
                "warden.toml:3: [[suite]] \"a\" command: empty command",
            ),
            (
                "[[suite]]\ncommand = [\"\", \"x\"]\n",
                "warden.toml:2: [[suite]] #1 command[0]: empty program name",
            ),
            (
                "[[suite]]\nname = \"a\"\ninclude = [\"ok/*\",\n  \"a[\"]\n",
                "warden.toml:4: [[suite]] \"a\" include[1]: bad glob `a[`: ",
            ),
            (
                "[[suite]]\nexclude = [\"{a\"]\n",
                "warden.toml:2: [[suite]] #1 exclude[0]: bad glob `{a`",
            ),
            (
                "[[suite]]\nformat = \"junit\"\n",
                "warden.toml:2: [[suite]] #1 format: unknown format `junit`",
            ),
            (
                "[[suite]]\n\ntimeout = \"soon\"\n",
                "warden.toml:3: [[suite]] #1 timeout: invalid duration `soon`",
            ),
            (
                "[[suite]]\ntimeout = \"0s\"\n",
                "warden.toml:2: [[suite]] #1 timeout: `0s`: must be greater than 0",
            ),
            (
                "[[suite]]\nmem_limit = \"lots\"\n",
                "warden.toml:2: [[suite]] #1 mem_limit: ",
            ),
            (
                "[[suite]]\nnet = \"none\"\n",
                "warden.toml:2: [[suite]] #1 net: unknown network `none` (expected `host` or `private`)",
            ),
            (
                "[[suite]]\nmem_limit = \"0\"\n",
                "warden.toml:2: [[suite]] #1 mem_limit: `0` is too small: at least 1M (a size takes a unit: 512M, 2G)",
            ),
            (
                "[[suite]]\nskip_exit_codes = [77, 0]\n",
                "warden.toml:2: [[suite]] #1 skip_exit_codes[1]: `0`: an exit code that means skip is 1 to 255",
            ),
            (
                "[[suite]]\nskip_exit_codes = [256]\n",
                "warden.toml:2: [[suite]] #1 skip_exit_codes[0]: `256`: an exit code",
            ),
            (
                "[[suite]]\ninclude = []\n",
                "warden.toml:2: [[suite]] #1 include: empty list",
            ),
            (
                "[[suite]]\nname = \"a\"\n[[suite]]\nname = \"a\"\n",
                "warden.toml:4: [[suite]] \"a\" name: duplicate suite name `a` (also [[suite]] #1)",
            ),
            (
                "[[suite]]\nenv = { \"A=B\" = \"1\" }\n",
                "warden.toml:2: [[suite]] #1 env.A=B: not a valid environment variable name",
            ),
        ];
        for (text, expected) in cases {
            let err = suites(text).unwrap_err();
            assert!(
                err.starts_with(expected),
                "{text:?}\n got: {err}\nwant: {expected}"
            );
        }
    }

    #[test]
    fn levels_replace_and_extend_the_defaults() {
        let l = resolve_levels(Some(&file(
            "[levels]\nunit = [\"unit\", \"fast\"]\nperf = [\"bench\"]\nsystem = []\n",
        )))
        .unwrap();
        assert_eq!(l.level_of_dir("fast"), Some("unit"));
        assert_eq!(l.level_of_dir("bench"), Some("perf"));
        assert_eq!(l.level_of_dir("e2e"), None);
        assert!(l.contains("system") && l.contains("integration"));
        assert_eq!(resolve_levels(None).unwrap(), Levels::default());
    }

    #[test]
    fn bad_levels_name_line() {
        let err = resolve_levels(Some(&file("[levels]\nsmoke = [\"unit\"]\n")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("warden.toml:1: [levels]: directory name `unit` is claimed by both"),
            "{err}"
        );
        let err = resolve_levels(Some(&file("[levels]\n\nunit = [\"a/b\"]\n")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("warden.toml:3: [levels] unit[0]: `a/b`"),
            "{err}"
        );
    }
}
