// SPDX-License-Identifier: MPL-2.0
//! Child processes for the example and README tests: built binaries found next to the test
//! executable, and every process bounded in time and killed when the test ends, also when it
//! fails.

// Each test file uses a part of this module.
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The cargo profile directory this test runs from (`target/<profile>`): the test executable
/// is `target/<profile>/deps/<name>-<hash>`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable is in a directory");
    assert_eq!(
        deps.file_name().and_then(|n| n.to_str()),
        Some("deps"),
        "the test executable {} is not in target/<profile>/deps",
        exe.display()
    );
    deps.parent()
        .expect("target/<profile> above deps")
        .to_path_buf()
}

/// Builds the examples and the plugin library (`libgstlockstep.so`) for this test's profile,
/// once per test process. `cargo test --all-targets` has built the examples already (then this
/// is a check that finds nothing to do); `cargo test --test <name>` has not, and a changed
/// example must not run stale.
pub fn build_examples_and_plugin() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let profile = profile_dir();
        let name = profile
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile name")
            .to_owned();
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .args(["build", "--quiet", "--lib", "--examples", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(profile.parent().expect("the target directory"));
        match name.as_str() {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            other => {
                cargo.args(["--profile", other]);
            }
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "cargo build --lib --examples failed");
    });
    let plugin = profile_dir().join("libgstlockstep.so");
    assert!(
        plugin.is_file(),
        "{} is missing after cargo build --lib",
        plugin.display()
    );
}

/// How a bounded run ended.
pub struct Outcome {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// The process outlived its time and was killed.
    pub killed: bool,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        !self.killed && self.status.is_some_and(|s| s.success())
    }

    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Everything the process printed, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "status {:?}{} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            if self.killed { " (killed)" } else { "" },
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// Kills the child's process group when dropped while the child runs: a test that panics
/// while it runs leaves nothing behind.
struct Guard(std::process::Child);

impl Guard {
    /// SIGKILL to the child's process group (the child and what it started), while the child
    /// is not reaped yet, so its pid cannot name another process.
    fn kill_group(&mut self) {
        // SAFETY: kill(2) on the process group our child leads (setpgid in pre_exec).
        unsafe {
            libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill_group();
        }
        let _ = self.0.wait();
    }
}

/// Runs `command` with its output captured, in a process group of its own. With
/// `interrupt_after`, the group gets SIGINT then (what Ctrl-C in a terminal does, how a user
/// ends `gst-launch-1.0 -e`); the group is killed (SIGKILL) at `limit` in any case.
pub fn run(mut command: Command, interrupt_after: Option<Duration>, limit: Duration) -> Outcome {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setpgid and prctl are async-signal-safe. A group of its own, so the child and
    // whatever it starts can be signalled together; and the child dies with the thread that
    // started it, so not even an aborted test process leaves it running.
    unsafe {
        command.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut guard = Guard(command.spawn().expect("the command starts"));
    let readers = [
        reader(
            guard
                .0
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
        ),
        reader(
            guard
                .0
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        ),
    ];
    let mut interrupted = false;
    let mut killed = false;
    let status = loop {
        if let Some(status) = guard.0.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        let elapsed = started.elapsed();
        if elapsed >= limit {
            guard.kill_group();
            killed = true;
            break guard.0.wait().ok();
        }
        if let Some(after) = interrupt_after
            && !interrupted
            && elapsed >= after
        {
            // SAFETY: kill(2) on the process group of our child, not reaped yet.
            unsafe {
                libc::kill(-(guard.0.id() as libc::pid_t), libc::SIGINT);
            }
            interrupted = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    // A process that left the group could hold the pipes open: wait for the output a while.
    let [stdout, stderr] = readers.map(|r| {
        r.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| "(the output stayed open after the process ended)".into())
    });
    Outcome {
        status,
        stdout,
        stderr,
        killed,
        elapsed,
    }
}

fn reader(stream: Option<Box<dyn Read + Send>>) -> std::sync::mpsc::Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_end(&mut bytes);
        }
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// A fresh empty directory under the target directory, removed first if a previous run left
/// it.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = profile_dir()
        .join("test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}
