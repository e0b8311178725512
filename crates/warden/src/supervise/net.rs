//! `--net host|private`: which network a test's processes see.

use serde::Serialize;

/// The network a test runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's network, shared with every other test (the default).
    #[default]
    Host,
    /// A network namespace of its own holding only `lo` (`127.0.0.1`, `::1`), up: every test
    /// may bind any port, and nothing outside is reachable.
    Private,
}

/// A network name warden does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network `{0}` (expected `host` or `private`)")]
pub struct UnknownNetwork(pub String);

impl Network {
    /// `host` or `private`; the error says what was expected.
    pub fn parse(text: &str) -> Result<Network, UnknownNetwork> {
        match text {
            "host" => Ok(Network::Host),
            "private" => Ok(Network::Private),
            other => Err(UnknownNetwork(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Host => "host",
            Network::Private => "private",
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_names_and_nothing_else() {
        assert_eq!(Network::parse("host"), Ok(Network::Host));
        assert_eq!(Network::parse("private"), Ok(Network::Private));
        for bad in ["", "Private", "none", " host"] {
            let e = Network::parse(bad).unwrap_err();
            assert_eq!(e, UnknownNetwork(bad.into()));
            assert!(
                e.to_string().contains("expected `host` or `private`"),
                "{e}"
            );
        }
        assert_eq!(Network::Private.to_string(), "private");
    }
}
