// SPDX-License-Identifier: MPL-2.0
//! Measurements shared by the benchmarks.
#![allow(dead_code)]

/// CPU time of the whole process (every thread), in ns.
pub fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Resident set size in kB, from /proc/self/statm.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// True when run by `cargo bench` (which passes `--bench`). `cargo test --all-targets` also
/// runs harness-less bench targets, without it: they then only say how to run them, so the
/// test suite stays fast and a benchmark is never mistaken for a test.
pub fn run_by_cargo_bench() -> bool {
    let yes = std::env::args().any(|arg| arg == "--bench");
    if !yes {
        println!("a benchmark, not a test: run it with `cargo bench --bench <name>`");
    }
    yes
}
