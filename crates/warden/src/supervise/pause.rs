//! Pausing every running test at once (Ctrl-Z: SIGTSTP, then SIGCONT): each live test is
//! frozen — a process tree by `cgroup.freeze` where it has a cgroup, SIGSTOP to each of its
//! processes otherwise; a container by the engine's `pause` — and the time spent paused is
//! added to its deadlines, so a pause never times a test out.
//!
//! Process-wide, because a stop is: the signal arrives once for warden, whatever runs.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::tree::Tree;

/// Something that can be frozen and thawed as a whole. Both calls are done when they return:
/// warden stops itself right after a pause.
pub trait Freezable: Send {
    fn freeze(&self);
    fn thaw(&self);
}

impl Freezable for Tree {
    fn freeze(&self) {
        if self
            .cgroup
            .as_ref()
            .is_some_and(|cg| cg.freeze(true).is_ok())
        {
            return;
        }
        self.signal(Signal::SIGSTOP);
    }

    fn thaw(&self) {
        if self
            .cgroup
            .as_ref()
            .is_some_and(|cg| cg.freeze(false).is_ok())
        {
            return;
        }
        self.signal(Signal::SIGCONT);
    }
}

struct State {
    /// Live tests by registration number.
    trees: BTreeMap<u64, Box<dyn Freezable>>,
    next: u64,
    paused_since: Option<Instant>,
    /// Paused time of the pauses that ended.
    paused_before: Duration,
}

static STATE: Mutex<State> = Mutex::new(State::new());

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    const fn new() -> State {
        State {
            trees: BTreeMap::new(),
            next: 0,
            paused_since: None,
            paused_before: Duration::ZERO,
        }
    }

    fn paused_total(&self) -> Duration {
        self.paused_before + self.paused_since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    fn add(&mut self, tree: Box<dyn Freezable>) -> u64 {
        let id = self.next;
        self.next += 1;
        if self.paused_since.is_some() {
            tree.freeze();
        }
        self.trees.insert(id, tree);
        id
    }

    fn remove(&mut self, id: u64) {
        if let Some(tree) = self.trees.remove(&id) {
            // A worker's cgroup is reused by its next test: never hand it over frozen.
            if self.paused_since.is_some() {
                tree.thaw();
            }
        }
    }

    fn pause(&mut self) -> usize {
        if self.paused_since.is_none() {
            self.paused_since = Some(Instant::now());
            for tree in self.trees.values() {
                tree.freeze();
            }
        }
        self.trees.len()
    }

    fn resume(&mut self) {
        if let Some(since) = self.paused_since.take() {
            self.paused_before += since.elapsed();
            for tree in self.trees.values() {
                tree.thaw();
            }
        }
    }
}

/// A tree counted in pauses until this is dropped.
pub struct Registration {
    id: u64,
}

/// Count `tree` in pauses from now on; frozen at once if a pause is under way.
pub fn register(tree: Box<dyn Freezable>) -> Registration {
    Registration {
        id: state().add(tree),
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        state().remove(self.id);
    }
}

/// Time spent paused since the process started, the current pause included. A deadline set
/// at `t` with this reading `p0` is really due `paused_total() - p0` later.
pub fn paused_total() -> Duration {
    state().paused_total()
}

/// Freeze every live tree; returns how many there were. A second call before `resume` does
/// nothing more.
pub fn pause() -> usize {
    state().pause()
}

/// Thaw every live tree and end the pause.
pub fn resume() {
    state().resume()
}

/// `due` pushed back by the pauses since `paused_at_start` was read (`paused_now` is
/// [`paused_total`] now): `None` when it has come by `now`.
pub(crate) fn due_after(
    due: Instant,
    paused_at_start: Duration,
    paused_now: Duration,
    now: Instant,
) -> Option<Instant> {
    let due = crate::clock::instant_after(due, paused_now.saturating_sub(paused_at_start));
    (due > now).then_some(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn state_of(pid: i32) -> char {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
            .and_then(|r| r.chars().next())
            .unwrap_or('?')
    }

    /// On a state of its own: the process-wide one is shared with every test that runs tests.
    #[test]
    fn pause_stops_a_tree_and_resume_continues_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let tree = Tree {
            pgid: pid,
            cgroup: None,
            token: Vec::new(),
            mark: None,
        };
        let mut st = State::new();
        let id = st.add(Box::new(tree.clone()));
        assert_eq!(st.pause(), 1);
        let stopped = wait_for_state(pid, 'T');
        std::thread::sleep(Duration::from_millis(30));
        let during = st.paused_total();
        st.resume();
        let running = wait_for_state(pid, 'S');
        // Added during a pause: frozen at once; removed during one: thawed.
        st.pause();
        let id2 = st.add(Box::new(tree.clone()));
        let stopped_again = wait_for_state(pid, 'T');
        st.remove(id2);
        let thawed_on_removal = wait_for_state(pid, 'S');
        st.resume();
        st.remove(id);
        let _ = child.kill();
        let _ = child.wait();
        assert!(stopped, "not stopped by the pause");
        assert!(running, "not continued by the resume");
        assert!(stopped_again && thawed_on_removal);
        assert!(during >= Duration::from_millis(30));
        assert!(st.paused_total() >= during);
        assert!(st.paused_since.is_none() && st.trees.is_empty());
    }

    fn wait_for_state(pid: i32, want: char) -> bool {
        (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            state_of(pid) == want
        })
    }

    #[test]
    fn a_deadline_moves_by_the_pauses_since_it_was_set() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Due at t0 + 10 s, read at t0 + 11 s: come, unless paused for more than 1 s since.
        let (due, now) = (t0 + s(10), t0 + s(11));
        assert_eq!(due_after(due, s(5), s(5), now), None);
        assert_eq!(due_after(due, s(5), s(6), now), None);
        assert_eq!(due_after(due, s(5), s(8), now), Some(t0 + s(13)));
        assert_eq!(due_after(t0 + s(20), s(0), s(0), now), Some(t0 + s(20)));
    }
}
