//! Selection: filters and order → the tests to run.
mod filter;
mod order;
mod shuffle;

pub use filter::{select, Selected};
pub use order::order_by_expected;
pub use shuffle::{shuffle, SplitMix64};
