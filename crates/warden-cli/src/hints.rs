//! What the user can do about an error, in the command line's words: the engine's errors say
//! what failed and on what; a way out that names a flag is said here.

use std::error::Error;

use warden::container::EngineError;
use warden::session::SessionError;
use warden::state::LockError;

/// The hint to put after `cause`'s message, when there is one.
pub fn hint(cause: &(dyn Error + 'static)) -> Option<&'static str> {
    let lock =
        cause
            .downcast_ref::<LockError>()
            .or_else(|| match cause.downcast_ref::<SessionError>() {
                Some(SessionError::Lock(l)) => Some(l),
                _ => None,
            });
    match lock {
        Some(LockError::Open { .. }) => {
            return Some(" (make it writable, or choose another with --state-dir)")
        }
        Some(LockError::Busy { .. }) => return Some(" (wait for it, or use another --state-dir)"),
        None => {}
    }
    match cause.downcast_ref::<EngineError>() {
        Some(EngineError::NotFound { .. }) => {
            Some("; install one or choose it with --container-engine")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_busy_state_dir_points_at_another_one_however_it_is_wrapped() {
        let busy = || LockError::Busy {
            dir: PathBuf::from("/p/.warden"),
            holder: None,
        };
        let expected = Some(" (wait for it, or use another --state-dir)");
        assert_eq!(hint(&busy()), expected);
        assert_eq!(hint(&SessionError::Lock(busy())), expected);
        let missing = EngineError::NotFound {
            wanted: "`podman` is not".into(),
        };
        assert!(hint(&missing).unwrap().contains("--container-engine"));
        assert_eq!(hint(&std::io::Error::other("x")), None);
    }
}
