//! Configuration: `warden.toml` + command-line options → validated settings.
mod options;
pub use options::RunOptions;
