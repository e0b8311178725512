//! Helpers shared by the integration tests, which run the real `warden` binary on copies of the
//! fixture suites under `fixtures/`.
// Each test file uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

mod contain;
mod engines;
mod events;
mod host;
mod hostile;
mod model;
mod procs;
mod require;
mod sandbox;
mod tagged;
mod user;
mod verbatim;
mod vm;
mod warden;

pub use contain::*;
pub use engines::*;
pub use events::*;
pub use host::*;
pub use hostile::*;
pub use model::*;
pub use procs::*;
pub use require::*;
pub use sandbox::*;
pub use tagged::*;
pub use user::*;
pub use verbatim::*;
pub use vm::*;
pub use warden::*;
