//! What a private network costs a test at its start (`bench/netns.sh`): start `/bin/true` the
//! way warden starts a test's main process (`os::spawn`), N times on the host's network and N
//! times each in a new network namespace (plus a user namespace when not root) with `lo` up,
//! alternating, and print the mean and median spawn-to-exit times and their difference.
//!
//! `cargo run --release -p warden --example netns_cost -- [N]`

use std::time::{Duration, Instant};

use warden::supervise::os::netns::PrivateNet;
use warden::supervise::os::spawn::{spawn, Request};

/// `net`: the run's private network (the process-wide one, `PrivateNet::get`), or the host's.
fn once(net: Option<&'static PrivateNet>) -> Duration {
    let argv = vec!["/bin/true".to_string()];
    let cwd = std::env::temp_dir();
    let started = Instant::now();
    let pid = spawn(&Request {
        argv: &argv,
        cwd: &cwd,
        env: &[],
        output: None,
        cgroup_procs: &[],
        rlimits: &[],
        private_net: net.is_some(),
    })
    .unwrap_or_else(|e| panic!("cannot start /bin/true: {e}"));
    let mut status = 0;
    // SAFETY: waits for the child just started; status is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    started.elapsed()
}

fn summary(mut d: Vec<Duration>) -> (f64, f64) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    let mean = d.iter().map(|x| ms(*x)).sum::<f64>() / d.len() as f64;
    (mean, ms(d[d.len() / 2]))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let private = PrivateNet::get();
    if let Err(e) = warden::supervise::os::netns::probe() {
        eprintln!("{e}");
        std::process::exit(2);
    }
    // Warm up both paths (page cache, the kernel's slab caches).
    for _ in 0..20 {
        once(None);
        once(Some(private));
    }
    let (mut host, mut own) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        host.push(once(None));
        own.push(once(Some(private)));
    }
    let (hm, hmed) = summary(host);
    let (pm, pmed) = summary(own);
    // SAFETY: geteuid has no preconditions.
    let who = if unsafe { libc::geteuid() } == 0 {
        "root: CLONE_NEWNET"
    } else {
        "normal user: CLONE_NEWUSER | CLONE_NEWNET"
    };
    println!("{who}, {n} spawns of /bin/true each, alternating");
    println!("| network | mean | median |");
    println!("|---|---|---|");
    println!("| host | {hm:.3} ms | {hmed:.3} ms |");
    println!("| private | {pm:.3} ms | {pmed:.3} ms |");
    println!(
        "| **set-up cost per test** | **{:.3} ms** | **{:.3} ms** |",
        pm - hm,
        pmed - hmed
    );
}
