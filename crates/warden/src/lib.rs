//! warden's engine: discover test files, select and order them, run each as a supervised
//! process tree, and describe everything that happens as [`events::Event`]s.
//! The engine never prints; the `warden` binary decides where events go.

pub mod bounded;
pub mod cases;
pub mod clock;
pub mod config;
pub mod container;
pub mod coverage;
pub mod discovery;
pub mod events;
pub mod exit_code;
pub mod monitor;
pub mod report;
pub mod run_token;
pub mod runner;
pub mod select;
pub mod session;
pub mod state;
pub mod supervise;
pub mod tap;
pub mod test_case;
pub mod units;
pub mod watchdog;
