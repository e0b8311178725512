//! Commands shown to the user to copy (how to resume, how to merge coverage, the run's argv in
//! the HTML page): every word quoted for `sh` only where it needs it.

/// `text` as one word for `sh`: as it is when it needs no quoting, else in single quotes.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `argv` as one `sh` command line.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_sh() {
        assert_eq!(shell_word("/usr/bin/warden"), "/usr/bin/warden");
        assert_eq!(shell_word("/tmp/my dir/warden"), "'/tmp/my dir/warden'");
        assert_eq!(shell_word("/a/*"), "'/a/*'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        for text in ["a b", "it's", "$HOME", "x;y", "--a", "é", ""] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_word(text))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), text);
        }
        assert_eq!(shell_words(&["run".into(), "a b".into()]), "run 'a b'");
    }
}
