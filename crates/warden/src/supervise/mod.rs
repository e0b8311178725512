//! supervise (in progress)
