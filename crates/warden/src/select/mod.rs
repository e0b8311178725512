//! Selection: filters, partitions and order → the tests to run.
mod expr;
mod filter;
mod order;
mod partition;
mod shuffle;

pub use expr::{Expr, ExprContext, ExprError};
pub use filter::{select, Selected};
pub use order::{order_by_expected, serial_last};
pub use partition::{assign, stable_hash, Partition, PartitionError, PartitionKind};
pub use shuffle::{shuffle, SplitMix64};
