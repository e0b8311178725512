//! Durations and sizes (in progress)
