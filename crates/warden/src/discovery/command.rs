//! The argv of a test: the suite's template, else the file itself, else an interpreter chosen
//! by extension. Never a shell command line: each argument stays one argument.

use std::path::Path;

/// Interpreters for files that are not executable (SPEC §3).
const INTERPRETERS: [(&str, &str); 8] = [
    ("sh", "sh"),
    ("bash", "bash"),
    ("py", "python3"),
    ("js", "node"),
    ("mjs", "node"),
    ("rb", "ruby"),
    ("pl", "perl"),
    ("t", "perl"),
];

/// Why a test has no command; it becomes the test's ERROR result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{id}: path is not valid UTF-8, cannot pass it as an argument")]
    NotUtf8 { id: String },
    #[error("{id}: not executable and no interpreter known for `.{ext}`")]
    NoInterpreter { id: String, ext: String },
    #[error("{id}: not executable and has no extension to choose an interpreter by")]
    NoExtension { id: String },
}

/// The interpreter SPEC §3 assigns to an extension.
pub fn interpreter_for(extension: &str) -> Option<&'static str> {
    INTERPRETERS
        .iter()
        .find(|(ext, _)| *ext == extension)
        .map(|(_, prog)| *prog)
}

/// Builds the argv for the file at `path` (absolute) whose id is `id`. `executable` is whether
/// the file has an execute bit. Errors are messages for the test's ERROR result.
pub fn build_command(
    path: &Path,
    id: &str,
    template: Option<&[String]>,
    executable: bool,
) -> Result<Vec<String>, CommandError> {
    fill(path, id, template, executable, None)
}

/// Fills `template` for the case `case` of the file at `path`: `{case}` besides the file's
/// placeholders, in the same single pass (a file named `{case}_test.py` stays as it is).
pub fn build_case_command(
    path: &Path,
    id: &str,
    template: &[String],
    case: &str,
) -> Result<Vec<String>, CommandError> {
    fill(path, id, Some(template), false, Some(case))
}

fn fill(
    path: &Path,
    id: &str,
    template: Option<&[String]>,
    executable: bool,
    case: Option<&str>,
) -> Result<Vec<String>, CommandError> {
    let text = |p: &Path| {
        p.to_str()
            .map(str::to_string)
            .ok_or_else(|| CommandError::NotUtf8 { id: id.to_string() })
    };
    let abs = text(path)?;
    if let Some(template) = template {
        let dir = text(path.parent().unwrap_or(Path::new("/")))?;
        let name = text(Path::new(path.file_name().unwrap_or_default()))?;
        let stem = text(Path::new(path.file_stem().unwrap_or_default()))?;
        let mut values = vec![
            ("{path}", abs.as_str()),
            ("{dir}", dir.as_str()),
            ("{name}", name.as_str()),
            ("{stem}", stem.as_str()),
        ];
        if let Some(case) = case {
            values.push(("{case}", case));
        }
        return Ok(template
            .iter()
            .map(|arg| substitute(arg, &values))
            .collect());
    }
    if executable {
        return Ok(vec![abs]);
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => match interpreter_for(ext) {
            Some(prog) => Ok(vec![prog.to_string(), abs]),
            None => Err(CommandError::NoInterpreter {
                id: id.to_string(),
                ext: ext.to_string(),
            }),
        },
        None => Err(CommandError::NoExtension { id: id.to_string() }),
    }
}

/// Replaces placeholders in one pass, so a file named `{name}.t` is not substituted twice.
fn substitute(arg: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        match values.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &rest[key.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn template_placeholders_stay_inside_their_argument() {
        let t = template(&[
            "bin/run",
            "--file={path}",
            "{dir}",
            "{name}",
            "{stem}.out",
            "{x}",
            "{",
        ]);
        let argv = build_command(
            Path::new("/w/test/it's a $x {name}_test.sh"),
            "test/it's a $x {name}_test.sh",
            Some(&t),
            false,
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "bin/run",
                "--file=/w/test/it's a $x {name}_test.sh",
                "/w/test",
                "it's a $x {name}_test.sh",
                "it's a $x {name}_test.out",
                "{x}",
                "{",
            ]
        );
    }

    #[test]
    fn a_case_fills_its_placeholder_once() {
        let t = template(&["run", "{path}", "--only={case}", "{stem}"]);
        let argv =
            build_case_command(Path::new("/w/{case}_test.py"), "x", &t, "-a {path} b").unwrap();
        assert_eq!(
            argv,
            [
                "run",
                "/w/{case}_test.py",
                "--only=-a {path} b",
                "{case}_test"
            ]
        );
        let argv = build_command(Path::new("/w/a.py"), "a.py", Some(&t), false).unwrap();
        assert_eq!(argv[2], "--only={case}", "no case: the placeholder stays");
    }

    #[test]
    fn executable_files_run_themselves_else_by_extension() {
        let p = Path::new("/w/a_test.py");
        assert_eq!(
            build_command(p, "a_test.py", None, true).unwrap(),
            ["/w/a_test.py"]
        );
        assert_eq!(
            build_command(p, "a_test.py", None, false).unwrap(),
            ["python3", "/w/a_test.py"]
        );
        for (ext, prog) in [
            ("sh", "sh"),
            ("bash", "bash"),
            ("js", "node"),
            ("mjs", "node"),
            ("rb", "ruby"),
            ("pl", "perl"),
            ("t", "perl"),
        ] {
            let path = format!("/w/x.{ext}");
            let argv = build_command(Path::new(&path), "x", None, false).unwrap();
            assert_eq!(argv, [prog, path.as_str()]);
        }
    }

    #[test]
    fn unknown_extension_is_an_error_naming_the_test() {
        let err = build_command(Path::new("/w/a_test.xyz"), "a_test.xyz", None, false).unwrap_err();
        assert_eq!(
            err,
            CommandError::NoInterpreter {
                id: "a_test.xyz".into(),
                ext: "xyz".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "a_test.xyz: not executable and no interpreter known for `.xyz`"
        );
        let err = build_command(Path::new("/w/run_test"), "run_test", None, false).unwrap_err();
        assert_eq!(
            err,
            CommandError::NoExtension {
                id: "run_test".into()
            }
        );
        assert!(
            err.to_string().starts_with("run_test: not executable"),
            "{err}"
        );
    }
}
