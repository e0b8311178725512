//! `run_process` under caps, on real processes and (where the host has them) real cgroups.

use std::time::Duration;

use super::*;
use crate::supervise::os::cgroup::CgroupRun;
use crate::supervise::os::controllers::ControllerRun;

fn spec(script: &str, limits: Limits) -> SpawnSpec {
    SpawnSpec {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        cwd: std::env::temp_dir(),
        env: vec![],
        timeout: Duration::from_secs(20),
        grace: Duration::from_millis(500),
        capture: Some(CaptureSpec {
            log_path: None,
            tap: TapMode::Off,
            echo: None,
        }),
        cgroup: None,
        token: vec![],
        mark: None,
        controllers: None,
        limits,
        net: Network::Host,
    }
}

fn run(spec: SpawnSpec) -> ProcessOutcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = watch::channel(Cancel::No);
    rt.block_on(run_process(spec, rx))
}

fn output(o: &ProcessOutcome) -> String {
    String::from_utf8_lossy(&o.output.head).into_owned()
}

/// `{ALLOC} MIB [SECONDS]`: allocate MIB MiB, then hold them for SECONDS.
const ALLOC: &str = "python3 -c 'import sys, time; b = bytearray(b\"x\") * (int(sys.argv[1]) << 20); time.sleep(float((sys.argv[2:] or [0])[0]))'";

#[test]
fn safe_mode_limits_are_seen_by_the_test() {
    let limits = Limits {
        safe_mode: true,
        ..Limits::default()
    };
    let o = run(spec("ulimit -c; ulimit -n", limits));
    assert_eq!(o.exit, Exit::Code(0));
    let (_, nofile_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    assert_eq!(
        output(&o),
        format!("0\n{}\n", nofile_hard.min(rlimit::SAFE_NOFILE))
    );
    // Without it the test inherits warden's limits.
    let o = run(spec("ulimit -n", Limits::default()));
    assert_eq!(output(&o).trim(), nofile_hard.to_string());
}

/// Without any cgroup, peak memory and CPU time come from wait4 of the main process, or, when
/// wait4's figure could be this process's own size (this test binary can be large), from the
/// samples of the test's processes: the allocating child lives long enough to be seen.
#[test]
fn measured_without_cgroups() {
    let o = run(spec(
        &format!("{ALLOC} 80 0.6; python3 -c 'import time; t=time.process_time()\nwhile time.process_time()-t<0.15: pass'"),
        Limits::default(),
    ));
    assert_eq!(o.exit, Exit::Code(0), "{}", output(&o));
    let peak = o.usage.peak_rss_bytes.unwrap();
    assert!((80 << 20..1 << 30).contains(&peak), "peak {peak}");
    assert!(o.usage.cpu_ms.unwrap() >= 150, "{:?}", o.usage);
    assert!(!o.usage.oom_killed);
}

/// No memory controller: the cap becomes an address-space rlimit; allocations past it fail
/// (no kill, so no OOM status), and the test knows why.
#[test]
fn memory_cap_falls_back_to_an_rlimit() {
    let limits = Limits {
        mem_bytes: Some(200 << 20),
        ..Limits::default()
    };
    let o = run(spec(&format!("{ALLOC} 400"), limits));
    assert_eq!(o.exit, Exit::Code(1), "{}", output(&o));
    assert!(output(&o).contains("MemoryError"), "{}", output(&o));
    assert_eq!(o.usage.mem_limit, Some((200 << 20, MemCapBy::Rlimit)));
    assert!(!o.usage.oom_killed);
    let o = run(spec(&format!("{ALLOC} 50"), limits));
    assert_eq!(o.exit, Exit::Code(0), "{}", output(&o));
}

/// With the host's cgroups: over the cap is an OOM kill with the peak measured in the slot,
/// the next test in the same slot is measured on its own, and the slot's caps change per test.
#[test]
fn memory_cap_in_real_cgroups() {
    let id = format!("unit-proc-{}", std::process::id());
    let v2 = CgroupRun::create(&id).ok();
    let ctl = ControllerRun::create(&id, v2.as_ref());
    if ctl.memory().is_none() {
        crate::supervise::os::require::skip_without_cgroups(format_args!(
            "no memory controller: {:?}",
            ctl.notes()
        ));
        if let Some(v2) = &v2 {
            v2.remove();
        }
        return;
    }
    let tracking = v2.as_ref().map(|r| Arc::new(r.test("w0").unwrap()));
    let slot = Arc::new(ctl.slot("w0", tracking.as_deref()).unwrap());
    let with = |script: &str, limits: Limits| {
        let mut s = spec(script, limits);
        s.cgroup = tracking.clone();
        s.controllers = Some(slot.clone());
        run(s)
    };
    let cap = Limits {
        mem_bytes: Some(128 << 20),
        ..Limits::default()
    };
    let over = with(&format!("{ALLOC} 1024"), cap);
    let beside = with(&format!("{ALLOC} 100"), Limits::default());
    let under = with(&format!("{ALLOC} 20"), cap);
    drop(slot);
    drop(tracking);
    ctl.remove();
    if let Some(v2) = &v2 {
        v2.remove();
    }

    assert!(over.usage.oom_killed, "{:?} {:?}", over.exit, over.usage);
    assert_eq!(over.usage.mem_limit, Some((128 << 20, MemCapBy::Cgroup)));
    let peak = over.usage.peak_rss_bytes.unwrap();
    assert!(peak > 64 << 20 && peak <= 129 << 20, "peak {peak}");

    assert_eq!(beside.exit, Exit::Code(0), "{}", output(&beside));
    assert!(!beside.usage.oom_killed);
    let peak = beside.usage.peak_rss_bytes.unwrap();
    assert!((100 << 20..512 << 20).contains(&peak), "peak {peak}");
    assert!(beside.usage.cpu_ms.is_some());

    assert_eq!(under.exit, Exit::Code(0), "{}", output(&under));
    assert!(!under.usage.oom_killed);
}
