//! The `[container]` table of `warden.toml`: which image and engine, and every hardening flag of
//! SPEC §8, each on by default and each relaxable by a key. Parsed by hand from the raw TOML so
//! that every error names the key it is about (the config loader adds the file and line).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::engine::EngineChoice;
use crate::units::parse_size;

/// Where the project is mounted inside every container.
pub const WORKSPACE: &str = "/workspace";
/// The unprivileged user tests run as unless `user` says otherwise (`nobody` on Debian).
pub const DEFAULT_USER: &str = "65534:65534";
pub const DEFAULT_PIDS_LIMIT: u32 = 512;
/// Docker's `--tmpfs` is root-owned 0755 unless told otherwise: the test user could not write.
pub const DEFAULT_TMPFS: &str = "/tmp:rw,nosuid,nodev,noexec,mode=1777";

/// Every key `[container]` accepts.
const KEYS: [&str; 18] = [
    "image",
    "engine",
    "pull",
    "mounts",
    "env",
    "user",
    "network",
    "read_only",
    "workspace_read_only",
    "tmpfs",
    "cap_add",
    "no_new_privileges",
    "init",
    "pids_limit",
    "memory",
    "cpus",
    "extra_args",
    "workspace",
];

/// How tests run in containers: one value per run, shared by every test.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerConfig {
    /// `None` until the command line or `[container] image` names one.
    pub image: Option<String>,
    pub engine: EngineChoice,
    /// Pull the image when it is not present locally. Off: a missing image is an error.
    pub pull: bool,
    /// Extra bind mounts, besides the project at [`WORKSPACE`].
    pub mounts: Vec<Mount>,
    /// Added to every test's environment (after the suite's, before `WARDEN_*`).
    pub env: BTreeMap<String, String>,
    /// `--user`; `None` = the image's own user.
    pub user: Option<String>,
    /// `--network`.
    pub network: String,
    /// `--read-only` root filesystem.
    pub read_only: bool,
    /// The project is mounted read-only.
    pub workspace_read_only: bool,
    /// Where the project is mounted (absolute path inside the container).
    pub workspace: String,
    /// `--tmpfs` mounts (`PATH[:OPTIONS]`).
    pub tmpfs: Vec<String>,
    /// Capabilities given back after `--cap-drop ALL`.
    pub cap_add: Vec<String>,
    pub no_new_privileges: bool,
    /// `--init`: a minimal init reaps zombies and forwards signals to the test.
    pub init: bool,
    /// `--pids-limit`; `None` = no limit.
    pub pids_limit: Option<u32>,
    /// `--memory` (and `--memory-swap` equal to it, so swap cannot stretch the limit), bytes.
    pub memory: Option<u64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// Passed to `run` before the image, as they are: the escape hatch for anything else.
    pub extra_args: Vec<String>,
}

/// A bind mount from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute host path (relative ones are resolved against the project root).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            image: None,
            engine: EngineChoice::Auto,
            pull: false,
            mounts: Vec::new(),
            env: BTreeMap::new(),
            user: Some(DEFAULT_USER.to_string()),
            network: "none".to_string(),
            read_only: true,
            workspace_read_only: true,
            workspace: WORKSPACE.to_string(),
            tmpfs: vec![DEFAULT_TMPFS.to_string()],
            cap_add: Vec::new(),
            no_new_privileges: true,
            init: true,
            pids_limit: Some(DEFAULT_PIDS_LIMIT),
            memory: None,
            cpus: None,
            extra_args: Vec::new(),
        }
    }
}

/// One step of the key path an error is about, below `[container]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    Key(String),
    Index(usize),
}

/// A bad value in `[container]`; `key` locates it (`mounts[1].target`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[container] {}: {message}", describe(key))]
pub struct ContainerConfigError {
    pub key: Vec<KeyPart>,
    pub message: String,
}

fn describe(key: &[KeyPart]) -> String {
    let mut s = String::new();
    for part in key {
        match part {
            KeyPart::Key(k) if s.is_empty() => s.push_str(k),
            KeyPart::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            KeyPart::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn err(key: &[KeyPart], message: impl fmt::Display) -> ContainerConfigError {
    ContainerConfigError {
        key: key.to_vec(),
        message: message.to_string(),
    }
}

fn key(k: &str) -> Vec<KeyPart> {
    vec![KeyPart::Key(k.to_string())]
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

fn string(v: &toml::Value, at: &[KeyPart]) -> Result<String, ContainerConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| err(at, format!("expected a string, found {}", type_name(v))))
}

fn non_empty(v: &toml::Value, at: &[KeyPart]) -> Result<String, ContainerConfigError> {
    let s = string(v, at)?;
    if s.trim().is_empty() {
        return Err(err(at, "must not be empty"));
    }
    Ok(s)
}

fn boolean(v: &toml::Value, at: &[KeyPart]) -> Result<bool, ContainerConfigError> {
    v.as_bool().ok_or_else(|| {
        err(
            at,
            format!("expected true or false, found {}", type_name(v)),
        )
    })
}

fn strings(v: &toml::Value, at: &[KeyPart]) -> Result<Vec<String>, ContainerConfigError> {
    let items = v.as_array().ok_or_else(|| {
        err(
            at,
            format!("expected an array of strings, found {}", type_name(v)),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut here = at.to_vec();
            here.push(KeyPart::Index(i));
            non_empty(item, &here)
        })
        .collect()
}

fn absolute_target(target: &str, at: &[KeyPart]) -> Result<(), ContainerConfigError> {
    if !target.starts_with('/') {
        return Err(err(
            at,
            format!("`{target}` must be an absolute path inside the container"),
        ));
    }
    Ok(())
}

impl ContainerConfig {
    /// Reads the `[container]` table; relative mount sources are resolved against `root` (the
    /// project root). `None` (no table) gives the defaults.
    pub fn from_toml(
        table: Option<&toml::Value>,
        root: &Path,
    ) -> Result<ContainerConfig, ContainerConfigError> {
        let mut c = ContainerConfig::default();
        let Some(value) = table else {
            return Ok(c);
        };
        let table = value
            .as_table()
            .ok_or_else(|| err(&[], format!("must be a table, found {}", type_name(value))))?;
        for (name, v) in table {
            let at = key(name);
            match name.as_str() {
                "image" => c.image = Some(non_empty(v, &at)?),
                "engine" => {
                    c.engine = non_empty(v, &at)?.parse().map_err(|e| err(&at, e))?;
                }
                "pull" => c.pull = boolean(v, &at)?,
                "mounts" => {
                    let items = v.as_array().ok_or_else(|| {
                        err(&at, format!("expected an array, found {}", type_name(v)))
                    })?;
                    c.mounts = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let mut here = at.clone();
                            here.push(KeyPart::Index(i));
                            parse_mount(item, &here, root)
                        })
                        .collect::<Result<_, _>>()?;
                }
                "env" => {
                    let t = v.as_table().ok_or_else(|| {
                        err(&at, format!("expected a table, found {}", type_name(v)))
                    })?;
                    for (k, val) in t {
                        let mut here = at.clone();
                        here.push(KeyPart::Key(k.clone()));
                        if k.is_empty() || k.contains('=') {
                            return Err(err(&here, "not a valid variable name"));
                        }
                        c.env.insert(k.clone(), string(val, &here)?);
                    }
                }
                // An empty user means the image's own: relaxing to root is a deliberate act.
                "user" => c.user = Some(string(v, &at)?).filter(|u| !u.trim().is_empty()),
                "network" => c.network = non_empty(v, &at)?,
                "read_only" => c.read_only = boolean(v, &at)?,
                "workspace_read_only" => c.workspace_read_only = boolean(v, &at)?,
                "workspace" => {
                    let w = non_empty(v, &at)?;
                    absolute_target(&w, &at)?;
                    c.workspace = w.trim_end_matches('/').to_string();
                    if c.workspace.is_empty() {
                        return Err(err(&at, "cannot be `/`"));
                    }
                }
                "tmpfs" => c.tmpfs = strings(v, &at)?,
                "cap_add" => c.cap_add = strings(v, &at)?,
                "no_new_privileges" => c.no_new_privileges = boolean(v, &at)?,
                "init" => c.init = boolean(v, &at)?,
                "pids_limit" => {
                    let n = v.as_integer().ok_or_else(|| {
                        err(
                            &at,
                            format!("expected an integer (0 = no limit), found {}", type_name(v)),
                        )
                    })?;
                    c.pids_limit = match u32::try_from(n) {
                        Ok(0) => None,
                        Ok(n) => Some(n),
                        Err(_) => return Err(err(&at, format!("{n} is out of range"))),
                    };
                }
                "memory" => {
                    let bytes = match v {
                        toml::Value::String(s) => parse_size(s).map_err(|e| err(&at, e))?,
                        toml::Value::Integer(n) => {
                            u64::try_from(*n).map_err(|_| err(&at, "must not be negative"))?
                        }
                        other => {
                            return Err(err(
                                &at,
                                format!(
                                    "expected a size such as \"512M\", found {}",
                                    type_name(other)
                                ),
                            ))
                        }
                    };
                    // Docker refuses limits under 6 MiB; say so here rather than per test.
                    if bytes < 6 * 1024 * 1024 {
                        return Err(err(&at, "must be at least 6M"));
                    }
                    c.memory = Some(bytes);
                }
                "cpus" => {
                    let n = match v {
                        toml::Value::Float(f) => *f,
                        toml::Value::Integer(i) => *i as f64,
                        other => {
                            return Err(err(
                                &at,
                                format!(
                                    "expected a number such as 1.5, found {}",
                                    type_name(other)
                                ),
                            ))
                        }
                    };
                    if !(n > 0.0 && n.is_finite()) {
                        return Err(err(&at, "must be a number above 0"));
                    }
                    c.cpus = Some(n);
                }
                "extra_args" => c.extra_args = strings(v, &at)?,
                other => {
                    return Err(err(
                        &at,
                        format!("unknown key `{other}` (known keys: {})", KEYS.join(", ")),
                    ))
                }
            }
        }
        Ok(c)
    }
}

/// `"HOST:TARGET[:ro|:rw]"` or `{ source = "HOST", target = "/in", read_only = true }`.
/// Extra mounts are read-only unless they say otherwise.
fn parse_mount(
    v: &toml::Value,
    at: &[KeyPart],
    root: &Path,
) -> Result<Mount, ContainerConfigError> {
    let (source, target, read_only) = match v {
        toml::Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (src, dst, ro) = match parts.as_slice() {
                [src, dst] => (*src, *dst, true),
                [src, dst, "ro"] => (*src, *dst, true),
                [src, dst, "rw"] => (*src, *dst, false),
                _ => {
                    return Err(err(
                        at,
                        format!("`{s}`: expected \"HOST:TARGET\" or \"HOST:TARGET:ro|rw\" (use a table for paths with `:`)"),
                    ))
                }
            };
            (src.to_string(), dst.to_string(), ro)
        }
        toml::Value::Table(t) => {
            let mut source = None;
            let mut target = None;
            let mut read_only = true;
            for (k, val) in t {
                let mut here = at.to_vec();
                here.push(KeyPart::Key(k.clone()));
                match k.as_str() {
                    "source" => source = Some(non_empty(val, &here)?),
                    "target" => target = Some(non_empty(val, &here)?),
                    "read_only" => read_only = boolean(val, &here)?,
                    other => {
                        return Err(err(
                            &here,
                            format!(
                                "unknown key `{other}` (known keys: source, target, read_only)"
                            ),
                        ))
                    }
                }
            }
            let source = source.ok_or_else(|| err(at, "missing `source`"))?;
            let target = target.ok_or_else(|| err(at, "missing `target`"))?;
            (source, target, read_only)
        }
        other => {
            return Err(err(
                at,
                format!(
                    "expected \"HOST:TARGET[:ro|rw]\" or a table, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    if source.is_empty() {
        return Err(err(at, "empty host path"));
    }
    absolute_target(&target, at)?;
    Ok(Mount {
        source: root.join(source),
        target,
        read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ContainerConfig, String> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        let table = doc.get("container").cloned();
        ContainerConfig::from_toml(table.as_ref(), Path::new("/proj")).map_err(|e| e.to_string())
    }

    #[test]
    fn no_table_is_fully_hardened() {
        let c = parse("").unwrap();
        assert_eq!(c, ContainerConfig::default());
        assert_eq!(c.user.as_deref(), Some("65534:65534"));
        assert_eq!(c.network, "none");
        assert!(c.read_only && c.workspace_read_only && c.no_new_privileges && c.init);
        assert_eq!(c.pids_limit, Some(512));
        assert!(!c.pull);
    }

    #[test]
    fn every_key_relaxes_its_flag() {
        let c = parse(
            r#"
[container]
image = "img:1"
engine = "podman"
pull = true
mounts = ["data:/data", "/abs:/abs2:rw", { source = "/x:y", target = "/z" }]
env = { A = "1" }
user = ""
network = "bridge"
read_only = false
workspace_read_only = false
workspace = "/src/"
tmpfs = ["/tmp", "/run:size=1m"]
cap_add = ["NET_BIND_SERVICE"]
no_new_privileges = false
init = false
pids_limit = 0
memory = "64M"
cpus = 1.5
extra_args = ["--shm-size", "1m"]
"#,
        )
        .unwrap();
        assert_eq!(c.image.as_deref(), Some("img:1"));
        assert_eq!(c.engine, EngineChoice::Podman);
        assert!(c.pull);
        assert_eq!(
            c.mounts,
            vec![
                Mount {
                    source: "/proj/data".into(),
                    target: "/data".into(),
                    read_only: true
                },
                Mount {
                    source: "/abs".into(),
                    target: "/abs2".into(),
                    read_only: false
                },
                Mount {
                    source: "/x:y".into(),
                    target: "/z".into(),
                    read_only: true
                },
            ]
        );
        assert_eq!(c.env["A"], "1");
        assert_eq!(c.user, None);
        assert_eq!(c.network, "bridge");
        assert!(!c.read_only && !c.workspace_read_only && !c.no_new_privileges && !c.init);
        assert_eq!(c.workspace, "/src");
        assert_eq!(c.tmpfs, vec!["/tmp", "/run:size=1m"]);
        assert_eq!(c.cap_add, vec!["NET_BIND_SERVICE"]);
        assert_eq!(c.pids_limit, None);
        assert_eq!(c.memory, Some(64 * 1024 * 1024));
        assert_eq!(c.cpus, Some(1.5));
        assert_eq!(c.extra_args, vec!["--shm-size", "1m"]);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("image = 3", "[container] image: expected a string, found an integer"),
            ("image = \" \"", "[container] image: must not be empty"),
            ("engine = \"lxc\"", "[container] engine: unknown engine `lxc` (expected docker, podman or auto)"),
            ("pull = \"yes\"", "[container] pull: expected true or false, found a string"),
            ("mounts = [\"a\"]", "[container] mounts[0]: `a`: expected \"HOST:TARGET\" or \"HOST:TARGET:ro|rw\" (use a table for paths with `:`)"),
            ("mounts = [\"a:rel\"]", "[container] mounts[0]: `rel` must be an absolute path inside the container"),
            ("mounts = [{ source = \"a\" }]", "[container] mounts[0]: missing `target`"),
            ("mounts = [{ source = \"a\", target = \"/b\", mode = 1 }]", "[container] mounts[0].mode: unknown key `mode` (known keys: source, target, read_only)"),
            ("env = { \"A=B\" = \"1\" }", "[container] env.A=B: not a valid variable name"),
            ("env = { A = 1 }", "[container] env.A: expected a string, found an integer"),
            ("cap_add = [\"X\", 2]", "[container] cap_add[1]: expected a string, found an integer"),
            ("pids_limit = -1", "[container] pids_limit: -1 is out of range"),
            ("pids_limit = \"512\"", "[container] pids_limit: expected an integer (0 = no limit), found a string"),
            ("memory = \"lots\"", "[container] memory: invalid size `lots`: expected a number such as 512M, 2G, 1024K"),
            ("memory = 1024", "[container] memory: must be at least 6M"),
            ("cpus = 0", "[container] cpus: must be a number above 0"),
            ("workspace = \"rel\"", "[container] workspace: `rel` must be an absolute path inside the container"),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(&format!("[container]\n{text}\n")).unwrap_err(),
                want,
                "{text}"
            );
        }
        let e = parse("[container]\nimagee = \"x\"\n").unwrap_err();
        assert!(
            e.starts_with("[container] imagee: unknown key `imagee` (known keys: image, engine,"),
            "{e}"
        );
    }

    #[test]
    fn error_key_path_is_structured() {
        let doc: toml::Table = toml::from_str("[container]\nmounts = [\"a:/b\", 3]\n").unwrap();
        let e = ContainerConfig::from_toml(doc.get("container"), Path::new("/")).unwrap_err();
        assert_eq!(
            e.key,
            vec![KeyPart::Key("mounts".into()), KeyPart::Index(1)]
        );
    }
}
