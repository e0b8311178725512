//! TAP parser (in progress)
