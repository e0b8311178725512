//! The container options of [`Resolver`] (SPEC §8): `--container` / `--container-seq`,
//! `--container-image`, `--container-engine` over `[container]`, whose errors name the key and
//! line.

use super::error::{ConfigError, Message, OptionKey};
use super::file::Seg;
use super::load::{given, Given, Keep, Layer, Resolver};
use super::settings::ContainerSettings;
use crate::container::{ContainerConfig, EngineChoice, KeyPart};

impl Resolver {
    /// `Some(sequential)` when tests run in containers. `--container` and `--container-seq`
    /// given together at one level contradict each other; otherwise the higher level wins.
    pub(super) fn container_mode(&self) -> Result<Option<bool>, ConfigError> {
        let parallel = given!(self.container);
        let seq = given!(self.container_seq);
        let parallel_on = parallel.value == Some(true);
        let seq_on = seq.value == Some(true);
        Ok(match (parallel_on, seq_on) {
            (false, false) => None,
            (true, false) => Some(false),
            (false, true) => Some(true),
            (true, true) => {
                let reason = "choose parallel or sequential containers";
                match self.settle(&parallel, &seq, reason)? {
                    Keep::First => Some(false),
                    Keep::Second => Some(true),
                }
            }
        })
    }

    pub(super) fn containers(&self) -> Result<ContainerSettings, ConfigError> {
        // Without a file there is no table, and no table has no errors.
        let mut config = match &self.file {
            None => ContainerConfig::default(),
            Some(file) => {
                ContainerConfig::from_toml(file.container.as_ref(), &self.root).map_err(|e| {
                    let mut path = vec![Seg::Key("container".into())];
                    path.extend(e.key.iter().map(|k| match k {
                        KeyPart::Key(k) => Seg::Key(k.clone()),
                        KeyPart::Index(i) => Seg::Index(*i),
                    }));
                    file.error_at(&path, &e.message)
                })?
            }
        };
        let mode = self.container_mode()?;
        let image = given!(self.container_image);
        let engine = given!(self.container_engine);
        if let Some(text) = &image.value {
            if text.trim().is_empty() {
                return Err(self.invalid(&image, "empty image name"));
            }
            config.image = Some(text.clone());
        }
        if let Some(text) = &engine.value {
            config.engine = text
                .parse::<EngineChoice>()
                .map_err(|e| self.invalid(&engine, e))?;
        }
        if mode.is_none() {
            // On the command line these only make sense with containers: never ignored.
            for opt in [&image, &engine] {
                if opt.layer == Layer::Cli {
                    return Err(self.invalid_because(
                        opt,
                        Message::new()
                            .text("only used with ")
                            .option(OptionKey::new("container"))
                            .text(" or ")
                            .option(OptionKey::new("container_seq")),
                    ));
                }
            }
        }
        if let Some(seq) = mode {
            if config.image.is_none() {
                let flag = if seq { "container_seq" } else { "container" };
                let on = Given {
                    key: flag,
                    negated: false,
                    layer: if seq {
                        given!(self.container_seq).layer
                    } else {
                        given!(self.container).layer
                    },
                    value: Some(true),
                };
                return Err(self.invalid_because(
                    &on,
                    Message::new()
                        .text("no container image: pass ")
                        .option(OptionKey::new("container_image"))
                        .text(" IMG or set `image` in [container] of warden.toml"),
                ));
            }
        }
        Ok(ContainerSettings {
            enabled: mode.is_some(),
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::tests::{cli, conflict, load as load_settings, option_error, project};
    use super::super::options::RunOptions;

    fn load(dir: &std::path::Path, opts: RunOptions) -> Result<super::ContainerSettings, String> {
        load_settings(dir, opts).map(|s| s.container)
    }

    #[test]
    fn off_by_default_but_the_table_is_still_checked() {
        let dir = project(None);
        let c = load(dir.path(), cli()).unwrap();
        assert!(!c.enabled);
        assert_eq!(c.config, crate::container::ContainerConfig::default());

        let dir = project(Some(
            "[run]\ntimeout = \"5s\"\n\n[container]\nimage = \"a\"\npids_limit = \"x\"\n",
        ));
        let e = load(dir.path(), cli()).unwrap_err();
        assert_eq!(
            e,
            "warden.toml:6: [container] pids_limit: expected an integer (0 = no limit), found a string"
        );
        let dir = project(Some("[container]\nmounts = [\n  \"a:/b\",\n  \"c\",\n]\n"));
        let e = load(dir.path(), cli()).unwrap_err();
        assert!(
            e.starts_with("warden.toml:4: [container] mounts[1]: `c`: expected"),
            "{e}"
        );
    }

    #[test]
    fn command_line_image_and_engine_over_the_table() {
        let dir = project(Some(
            "[container]\nimage = \"file-img\"\nengine = \"podman\"\n",
        ));
        let c = load(
            dir.path(),
            RunOptions {
                container: Some(true),
                ..cli()
            },
        )
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.config.image.as_deref(), Some("file-img"));
        assert_eq!(c.config.engine, crate::container::EngineChoice::Podman);
        let c = load(
            dir.path(),
            RunOptions {
                container_seq: Some(true),
                container_image: Some("cli-img".into()),
                container_engine: Some("docker".into()),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(c.config.image.as_deref(), Some("cli-img"));
        assert_eq!(c.config.engine, crate::container::EngineChoice::Docker);
    }

    #[test]
    fn container_seq_means_one_worker_and_contradictions_are_named() {
        let dir = project(Some("[container]\nimage = \"i\"\n"));
        let s = load_settings(
            dir.path(),
            RunOptions {
                container_seq: Some(true),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(s.run.workers, 1);
        let s = load_settings(
            dir.path(),
            RunOptions {
                container: Some(true),
                max_workers: Some(3),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(s.run.workers, 3);
        let both = RunOptions {
            container: Some(true),
            container_seq: Some(true),
            ..cli()
        };
        assert_eq!(
            conflict(dir.path(), both),
            (
                "container".into(),
                "container_seq".into(),
                "choose parallel or sequential containers".into()
            )
        );
        let seq_and_workers = RunOptions {
            container_seq: Some(true),
            max_workers: Some(4),
            ..cli()
        };
        assert_eq!(
            conflict(dir.path(), seq_and_workers),
            (
                "container_seq".into(),
                "max_workers".into(),
                "`container_seq` runs one container at a time".into()
            )
        );
        let cases = [
            (
                RunOptions {
                    container_image: Some("x".into()),
                    ..cli()
                },
                (
                    "container_image",
                    "only used with `container` or `container_seq`",
                ),
            ),
            (
                RunOptions {
                    container: Some(true),
                    container_engine: Some("lxc".into()),
                    ..cli()
                },
                (
                    "container_engine",
                    "unknown engine `lxc` (expected docker, podman or auto)",
                ),
            ),
        ];
        for (opts, (want_key, want)) in cases {
            assert_eq!(
                option_error(dir.path(), opts),
                (want_key.into(), want.into())
            );
        }
    }

    #[test]
    fn containers_without_an_image_is_an_error() {
        let dir = project(None);
        let (key, message) = option_error(
            dir.path(),
            RunOptions {
                container: Some(true),
                ..cli()
            },
        );
        assert_eq!(key, "container");
        assert!(
            message.starts_with("no container image: pass `container_image` IMG"),
            "{message}"
        );
        let dir = project(Some("[run]\ncontainer_seq = true\n"));
        let e = load(dir.path(), cli()).unwrap_err();
        assert!(
            e.starts_with("warden.toml:2: [run] container_seq: no container image"),
            "{e}"
        );
    }
}
