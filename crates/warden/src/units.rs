//! Durations and sizes (placeholder until the real parser lands).
use std::time::Duration;
pub fn format_duration(d: Duration) -> String {
    format!("{:?}", d)
}
