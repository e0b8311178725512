//! Configuration: `warden.toml` + command-line options → validated [`Settings`].
mod containers;
mod error;
pub(crate) mod file;
mod load;
mod options;
pub(crate) mod paths;
mod protect;
mod resolve;
mod settings;
mod suites;

pub use error::{toml_words, ConfigError, Conflict, Form, Mention, Message, OptionKey};
pub use load::{load_settings, load_settings_over, state_dir_of, CONFIG_FILE_NAME};
pub use options::RunOptions;
pub use paths::{absolute, relative_id};
pub use protect::MIN_TEST_MEM_LIMIT;
pub use settings::{
    compile_glob, Adapter, CargoConfig, ColorChoice, ContainerSettings, DiscoveryConfig,
    DoubleClaim, HostGuard, LeakPolicy, Levels, NoTests, OutputConfig, ReportTarget, RunConfig,
    Selection, Settings, SlowMode, Suite, TestLimits, BUILTIN_SUITE, CARGO_SUITE, DEFAULT_INCLUDE,
};
