/// Something the session has to tell that is not an event of the run: it happens before the
/// run starts (set-up) or after it ended (clean-up). The binary decides how it looks.
#[derive(Debug)]
pub enum Notice {
    /// The run goes on with less than it should have (printed even with `-q`).
    Warning(String),
    /// Worth a line, but not a problem (not with `-q`).
    Note(String),
    /// Only with `--verbose`: how containment was set up.
    Detail(String),
    /// What the sweep at the start removed of a dead run.
    Reaped(crate::watchdog::Reaped),
}
