//! A test's peak memory on v2 kernels that cannot reset `memory.peak` per test (before 6.12;
//! before 5.19 there is no `memory.peak` at all): a worker slot's cgroup is reused, so its
//! `memory.peak` is the highest of every test it ran. Each test then gets the best of:
//! - `memory.peak`, when it rose during the test: the new high is this test's peak;
//! - the memory limit, when the test was OOM-killed: it reached it;
//! - the highest `memory.current` sampled every 20 ms while it ran (a lower bound).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_millis(20);

/// The highest `memory.current` of one slot since `start`.
#[derive(Debug)]
pub struct Sampled {
    file: File,
    max: AtomicU64,
    stopped: AtomicBool,
}

impl Sampled {
    fn sample(&self) {
        if let Some(v) = read_at(&self.file) {
            self.max.fetch_max(v, Ordering::Relaxed);
        }
    }

    fn stop(&self) -> u64 {
        self.stopped.store(true, Ordering::Relaxed);
        self.sample();
        self.max.load(Ordering::Relaxed)
    }
}

struct Sampler {
    slots: Mutex<Vec<Arc<Sampled>>>,
    wake: Condvar,
}

fn sampler() -> &'static Sampler {
    static SAMPLER: OnceLock<&'static Sampler> = OnceLock::new();
    SAMPLER.get_or_init(|| {
        let s: &'static Sampler = Box::leak(Box::new(Sampler {
            slots: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }));
        // One thread for every slot of the process, asleep while no test is sampled.
        let _ = std::thread::Builder::new()
            .name("warden-memory-sampler".into())
            .spawn(move || loop {
                {
                    let mut slots = s.slots.lock().unwrap_or_else(|e| e.into_inner());
                    slots.retain(|x| !x.stopped.load(Ordering::Relaxed));
                    while slots.is_empty() {
                        slots = s.wake.wait(slots).unwrap_or_else(|e| e.into_inner());
                        slots.retain(|x| !x.stopped.load(Ordering::Relaxed));
                    }
                    for x in slots.iter() {
                        x.sample();
                    }
                }
                std::thread::sleep(INTERVAL);
            });
        s
    })
}

/// A slot being sampled; dropping it (a test that never started, say) stops the sampling.
#[derive(Debug)]
pub struct Sampling(Arc<Sampled>);

impl Sampling {
    /// Stop sampling; the highest value seen, the current one included.
    pub fn stop(&self) -> u64 {
        self.0.stop()
    }
}

impl Drop for Sampling {
    fn drop(&mut self) {
        self.0.stopped.store(true, Ordering::Relaxed);
    }
}

/// Start sampling `memory.current` of the slot directory `dir`.
pub fn start(dir: &Path) -> Option<Sampling> {
    let file = File::open(dir.join("memory.current")).ok()?;
    let s = Arc::new(Sampled {
        max: AtomicU64::new(read_at(&file).unwrap_or(0)),
        file,
        stopped: AtomicBool::new(false),
    });
    let sampler = sampler();
    sampler
        .slots
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(s.clone());
    sampler.wake.notify_one();
    Some(Sampling(s))
}

/// The test's peak from what was read before and after it (see the module comment).
pub fn best(
    peak_before: Option<u64>,
    peak_after: Option<u64>,
    oom_killed_at: Option<u64>,
    sampled: Option<u64>,
) -> Option<u64> {
    let rose = match (peak_before, peak_after) {
        (Some(b), Some(a)) if a > b => Some(a),
        _ => None,
    };
    [rose, oom_killed_at, sampled].into_iter().flatten().max()
}

fn read_at(file: &File) -> Option<u64> {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_estimate_of_a_test_peak() {
        // memory.peak rose: exact.
        assert_eq!(best(Some(10), Some(50), None, Some(40)), Some(50));
        // It did not (an earlier test went higher): the samples, or the limit after an OOM kill.
        assert_eq!(best(Some(50), Some(50), None, Some(7)), Some(7));
        assert_eq!(best(Some(50), Some(50), Some(64), Some(7)), Some(64));
        // No memory.peak (kernels before 5.19): the samples.
        assert_eq!(best(None, None, None, Some(3)), Some(3));
        assert_eq!(best(None, None, None, None), None);
    }

    #[test]
    fn samples_a_file_until_stopped() {
        let dir = std::env::temp_dir().join(format!("warden-peak-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let current = dir.join("memory.current");
        std::fs::write(&current, "100\n").unwrap();
        let s = start(&dir).unwrap();
        std::fs::write(&current, "900\n").unwrap();
        // The sampler sees the high value before it goes down again.
        let seen = (0..250).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            s.0.max.load(Ordering::Relaxed) == 900
        });
        std::fs::write(&current, "200\n").unwrap();
        let max = s.stop();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(seen, "the sampler never read 900");
        assert_eq!(max, 900);
    }
}
