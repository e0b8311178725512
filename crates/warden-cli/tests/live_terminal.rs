//! The live progress line on a real terminal (issue 10, section 5): tmux runs an interactive
//! shell, the keys are typed into it (`send-keys`), and the screen is read back
//! (`capture-pane`). After Ctrl-C, and while stopped by Ctrl-Z, no progress line is left on
//! screen; after `fg` the run goes on and ends without one. The line names the running tests.
//! Needs tmux (`.ci/run` installs it). Takes about 15 s.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A tmux session of our own (a unique name), killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(sb: &Sandbox) -> Tmux {
        let name = format!("warden-itest-{}-{}", std::process::id(), line!());
        let bin_dir = std::path::Path::new(warden_bin()).parent().unwrap();
        let shell = format!(
            "env -u CI PATH={}:$PATH {MARK_VAR}={} WARDEN_REGISTRY_DIR={} PS1='$ ' bash --norc --noprofile -i",
            bin_dir.display(),
            sb.path().display(),
            sb.path().join("registry").display()
        );
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "40"])
            .args(["-c", &sb.path().display().to_string(), &shell])
            .status()
            .expect("tmux (apt-get install tmux; .ci/run does)")
            .success();
        assert!(ok, "cannot start tmux");
        Tmux { name }
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; the screen then.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "`{text}` never appeared:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// A progress line on screen: its bar is drawn with these.
fn has_progress_line(screen: &str) -> bool {
    screen.contains('░') || screen.contains('█')
}

#[test]
fn progress_line_is_gone_after_ctrl_c_and_while_stopped_by_ctrl_z() {
    let sb = Sandbox::new();
    for i in 1..=4 {
        sb.write_executable(&format!("test/t{i}_test.sh"), "#!/bin/sh\nsleep 2\n");
    }
    let tmux = Tmux::start(&sb);
    // (capture-pane drops trailing blanks: the prompt reads `$`.)
    tmux.wait_for("$");

    tmux.keys(&["warden run -j2", "Enter"]);
    let screen = tmux.wait_for("running 2: test/t");
    assert!(has_progress_line(&screen), "{screen}");
    tmux.keys(&["C-c"]);
    tmux.wait_for("exit code 130");
    let screen = tmux.wait_for("\n$");
    assert!(!has_progress_line(&screen), "after Ctrl-C:\n{screen}");
    assert!(!screen.contains("^C"), "{screen}");

    tmux.keys(&["clear; warden run -j2", "Enter"]);
    tmux.wait_for("running 2: test/t");
    tmux.keys(&["C-z"]);
    let screen = tmux.wait_for("Stopped");
    assert!(!has_progress_line(&screen), "while stopped:\n{screen}");
    tmux.keys(&["fg", "Enter"]);
    let screen = tmux.wait_for("running 2: test/t");
    assert!(has_progress_line(&screen), "redrawn after fg:\n{screen}");
    let screen = tmux.wait_for("exit code 0");
    assert!(!has_progress_line(&screen), "at the end:\n{screen}");
    assert!(screen.contains("4 passed, 0 failed, 0 skipped"), "{screen}");
    drop(tmux);
    let left = settle_and_kill(
        &format!("{MARK_VAR}={}", sb.path().display()),
        Duration::from_millis(500),
    );
    assert!(left.is_empty(), "{left:?}");
}
