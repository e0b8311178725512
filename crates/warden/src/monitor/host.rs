//! Host readings for the guard: CPU busy share from `/proc/stat` deltas between two samples
//! (never the average since boot, which hides a host that became busy a minute ago), memory in
//! use from `MemTotal`/`MemAvailable`, and PSI `some avg10` where the kernel has it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::MonitorError;

/// CPU share is computed over at least this long: a shorter window holds only a few clock
/// ticks per CPU (10 ms each), too coarse to compare with a threshold.
pub const CPU_WINDOW: Duration = Duration::from_millis(400);

/// One look at the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Busy share of all CPUs over the last window, 0–100. `None` until a window has passed.
    pub cpu_percent: Option<f64>,
    /// `(MemTotal - MemAvailable) / MemTotal`, 0–100.
    pub mem_used_percent: f64,
    pub mem_total_bytes: u64,
    pub mem_available_bytes: u64,
    /// `some avg10` of `/proc/pressure/cpu`, when present.
    pub cpu_pressure: Option<f64>,
    /// `some avg10` of `/proc/pressure/memory`, when present.
    pub mem_pressure: Option<f64>,
}

/// The machine's name, for reports that say where a run ran; `None` when it has none.
pub fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| !h.is_empty())
}

/// Cumulative CPU time counters of the `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks not spent idle or waiting for I/O.
    pub busy: u64,
    pub total: u64,
}

/// Reads the host; keeps the previous CPU counters so that each share is a delta.
#[derive(Debug)]
pub struct HostSampler {
    proc_dir: PathBuf,
    /// Counters at the start of the current CPU window.
    window_start: Option<(Instant, CpuTimes)>,
    last_cpu: Option<f64>,
    has_psi: bool,
}

impl HostSampler {
    /// A sampler of this host's `/proc`. The first CPU window starts now.
    pub fn new() -> HostSampler {
        HostSampler::with_proc_dir(Path::new("/proc"))
    }

    /// A sampler of another `/proc` (a container's, or a copy).
    pub fn with_proc_dir(proc_dir: &Path) -> HostSampler {
        let mut s = HostSampler {
            proc_dir: proc_dir.to_path_buf(),
            window_start: None,
            last_cpu: None,
            has_psi: proc_dir.join("pressure").is_dir(),
        };
        s.window_start = s.cpu_times().ok().map(|t| (Instant::now(), t));
        s
    }

    /// Read the host now. The CPU share is updated once per [`CPU_WINDOW`]; between updates
    /// the last share is repeated, so sampling memory faster costs no CPU precision.
    pub fn sample(&mut self) -> Result<Reading, MonitorError> {
        let now = Instant::now();
        let times = self.cpu_times()?;
        match self.window_start {
            Some((at, start)) if now.duration_since(at) >= CPU_WINDOW => {
                if let Some(p) = cpu_percent(start, times) {
                    self.last_cpu = Some(p);
                }
                self.window_start = Some((now, times));
            }
            Some(_) => {}
            None => self.window_start = Some((now, times)),
        }
        let meminfo = self.read("meminfo")?;
        let (total, available) = parse_meminfo(&meminfo).ok_or_else(|| MonitorError::Parse {
            path: self.proc_dir.join("meminfo"),
            what: "MemTotal and MemAvailable",
        })?;
        let (cpu_pressure, mem_pressure) = if self.has_psi {
            (self.psi("cpu"), self.psi("memory"))
        } else {
            (None, None)
        };
        Ok(Reading {
            cpu_percent: self.last_cpu,
            mem_used_percent: mem_used_percent(total, available),
            mem_total_bytes: total,
            mem_available_bytes: available,
            cpu_pressure,
            mem_pressure,
        })
    }

    fn cpu_times(&self) -> Result<CpuTimes, MonitorError> {
        let stat = self.read("stat")?;
        parse_proc_stat(&stat).ok_or_else(|| MonitorError::Parse {
            path: self.proc_dir.join("stat"),
            what: "the `cpu` line",
        })
    }

    fn psi(&self, resource: &str) -> Option<f64> {
        let text = fs::read_to_string(self.proc_dir.join("pressure").join(resource)).ok()?;
        parse_psi_some_avg10(&text)
    }

    fn read(&self, name: &str) -> Result<String, MonitorError> {
        let path = self.proc_dir.join(name);
        fs::read_to_string(&path).map_err(|source| MonitorError::Read { path, source })
    }
}

impl Default for HostSampler {
    fn default() -> Self {
        HostSampler::new()
    }
}

/// Busy share between two counter snapshots; `None` when no tick passed.
pub fn cpu_percent(before: CpuTimes, after: CpuTimes) -> Option<f64> {
    let total = after.total.checked_sub(before.total)?;
    if total == 0 {
        return None;
    }
    let busy = after.busy.saturating_sub(before.busy).min(total);
    Some(busy as f64 * 100.0 / total as f64)
}

pub fn mem_used_percent(total: u64, available: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    total.saturating_sub(available) as f64 * 100.0 / total as f64
}

/// The aggregate `cpu` line: `user nice system idle iowait irq softirq steal guest guest_nice`.
/// Guest time is already counted in user/nice, so it is not added again.
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 4 {
        return None;
    }
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle,
        total,
    })
}

/// `(MemTotal, MemAvailable)` in bytes.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let mut total = None;
    let mut available = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            _ => continue,
        };
        let mut parts = value.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        let unit = match parts.next() {
            Some("kB") => 1024,
            None => 1,
            Some(_) => return None,
        };
        *slot = Some(n * unit);
    }
    Some((total?, available?))
}

/// `avg10` of the `some` line of a PSI file.
pub fn parse_psi_some_avg10(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1\n";

    #[test]
    fn cpu_line_counts_busy_and_total() {
        let t = parse_proc_stat(STAT).unwrap();
        assert_eq!(t.total, 100 + 5 + 50 + 800 + 20 + 3 + 2);
        assert_eq!(t.busy, 100 + 5 + 50 + 3 + 2);
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 x 3 4\n"), None);
        // Very old kernels have only four fields.
        assert_eq!(
            parse_proc_stat("cpu 1 2 3 4\n"),
            Some(CpuTimes { busy: 6, total: 10 })
        );
    }

    #[test]
    fn cpu_share_is_a_delta_not_since_boot() {
        // Busy 90% of the time since boot, idle in the last window.
        let boot = CpuTimes {
            busy: 9000,
            total: 10000,
        };
        let later = CpuTimes {
            busy: 9000,
            total: 10200,
        };
        assert_eq!(cpu_percent(boot, later), Some(0.0));
        let busy = CpuTimes {
            busy: 9150,
            total: 10200,
        };
        assert_eq!(cpu_percent(boot, busy), Some(75.0));
        assert_eq!(cpu_percent(boot, boot), None);
        // Counters going backwards (a different host, a reset) give nothing, not garbage.
        assert_eq!(cpu_percent(later, boot), None);
    }

    #[test]
    fn meminfo_total_and_available() {
        let text =
            "MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    4000000 kB\n";
        let (total, available) = parse_meminfo(text).unwrap();
        assert_eq!(total, 16_000_000 * 1024);
        assert_eq!(available, 4_000_000 * 1024);
        assert_eq!(mem_used_percent(total, available), 75.0);
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: 5 MB\nMemAvailable: 1 kB\n"), None);
        assert_eq!(mem_used_percent(0, 0), 0.0);
    }

    #[test]
    fn psi_some_avg10() {
        let text = "some avg10=3.59 avg60=20.03 avg300=19.18 total=324720671\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi_some_avg10(text), Some(3.59));
        assert_eq!(
            parse_psi_some_avg10("full avg10=1.00 avg60=0 avg300=0 total=0\n"),
            None
        );
    }

    /// A busy thread on this host shows up in the next window's share; the share before the
    /// first window has passed is unknown rather than the average since boot.
    #[test]
    fn real_host_cpu_and_memory() {
        let mut s = HostSampler::new();
        let first = s.sample().unwrap();
        assert_eq!(first.cpu_percent, None);
        assert!(first.mem_total_bytes > 0);
        assert!(first.mem_available_bytes <= first.mem_total_bytes);
        assert!(first.mem_used_percent > 0.0 && first.mem_used_percent < 100.0);
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
        assert_eq!(parse_meminfo(&meminfo).unwrap().0, first.mem_total_bytes);
        if Path::new("/proc/pressure").is_dir() {
            assert!(first.mem_pressure.is_some() && first.cpu_pressure.is_some());
        }

        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..cpus)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                })
            })
            .collect();
        std::thread::sleep(CPU_WINDOW + Duration::from_millis(100));
        let busy = s.sample().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in spinners {
            t.join().unwrap();
        }
        // One spinner per CPU: whatever else the host does, it is mostly busy.
        let cpu = busy.cpu_percent.expect("a window has passed");
        assert!(cpu > 60.0, "cpu {cpu}% with every CPU spinning");
        assert!(cpu <= 100.0);
    }
}
