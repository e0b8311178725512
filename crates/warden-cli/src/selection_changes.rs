//! Which options of a `--resume` change *which* tests run (a different selection: exit 43
//! unless `--resume=force`), as opposed to *how* they run (an override, named in a note): in
//! the words of the command line.

use std::path::PathBuf;

use warden::config::{Form, OptionKey};
use warden::state::Invocation;

use crate::flags;

/// The options of `now` that change which tests run and differ from the `saved`
/// invocation, in words (`-k: (none) → t1`). Options not given now are taken from the
/// saved run, so they never differ.
pub fn selection_changes(saved: &Invocation, now: &Invocation) -> Vec<String> {
    let (a, b) = (&saved.options, &now.options);
    let mut out = Vec::new();
    // Spelled as clap defines them, the short form where there is one (`-k`, `-E`).
    let mut check = |key: &'static str, then: String, given: Option<String>| {
        if let Some(given) = given {
            if given != then {
                let name = flags::flag(OptionKey::new(key), Form::Short);
                out.push(format!("{name}: {then} → {given}"));
            }
        }
    };
    let list = |v: &Option<Vec<String>>| match v {
        Some(v) if !v.is_empty() => v.join(", "),
        _ => "(none)".to_string(),
    };
    let on_off = |v: Option<bool>| if v == Some(true) { "on" } else { "off" }.to_string();
    let given_list = |v: &Option<Vec<String>>| v.as_ref().map(|_| list(v));
    let given_flag = |v: Option<bool>| v.map(|_| on_off(v));
    check("paths", list(&a.paths), given_list(&b.paths));
    check("level", list(&a.level), given_list(&b.level));
    check("tag", list(&a.tag), given_list(&b.tag));
    check(
        "exclude_tag",
        list(&a.exclude_tag),
        given_list(&b.exclude_tag),
    );
    check("filter", list(&a.filter), given_list(&b.filter));
    check("only_slow", on_off(a.only_slow), given_flag(b.only_slow));
    check(
        "include_slow",
        on_off(a.include_slow),
        given_flag(b.include_slow),
    );
    check(
        "only_skipped",
        on_off(a.only_skipped),
        given_flag(b.only_skipped),
    );
    let seed = |v: Option<u64>| v.map_or("(none)".to_string(), |s| s.to_string());
    check("seed", seed(a.seed), b.seed.map(|s| s.to_string()));
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
    check(
        "failed",
        on_off(Some(saved.failed)),
        now.failed.then(|| on_off(Some(true))),
    );
    check("partition", text(&saved.partition), now.partition.clone());
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    check(
        "history",
        path(&saved.history).unwrap_or_else(|| "(none)".into()),
        path(&now.history),
    );
    check(
        "config",
        path(&saved.config).unwrap_or_else(|| "(none)".into()),
        path(&now.config),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden::config::RunOptions;

    fn inv(options: RunOptions) -> Invocation {
        Invocation {
            command: "test".into(),
            cwd: "/p".into(),
            options,
            ..Invocation::default()
        }
    }

    #[test]
    fn only_given_selection_options_that_differ_are_changes() {
        let saved = inv(RunOptions {
            paths: Some(vec!["/p/test".into()]),
            filter: Some(vec!["t1".into()]),
            ..RunOptions::default()
        });
        // Nothing given, or the same again: no change.
        assert!(selection_changes(&saved, &inv(RunOptions::default())).is_empty());
        assert!(selection_changes(&saved, &saved.clone()).is_empty());
        let now = inv(RunOptions {
            paths: Some(vec!["/p/test/unit".into()]),
            filter: Some(vec!["t2".into()]),
            only_slow: Some(true),
            max_workers: Some(4),
            ..RunOptions::default()
        });
        assert_eq!(
            selection_changes(&saved, &now),
            [
                "PATH: /p/test → /p/test/unit",
                "-k: t1 → t2",
                "--only-slow: off → on"
            ]
        );
        let mut failed = inv(RunOptions::default());
        failed.failed = true;
        failed.partition = Some("hash:1/2".into());
        assert_eq!(
            selection_changes(&saved, &failed),
            ["--failed: off → on", "--partition: (none) → hash:1/2"]
        );
    }
}
