//! select (in progress)
