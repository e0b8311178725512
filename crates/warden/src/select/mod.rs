//! Selection: filters and order → the tests to run.
mod filter;
mod shuffle;

pub use filter::{select, Selected};
pub use shuffle::{shuffle, SplitMix64};
