// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `handoverbin` (a benchmark, not a test).
//!
//! A live 1080p30 source (`videotestsrc is-live=true`, timecodestamper) through
//! `handoverbin encoder="x264enc tune=zerolatency speed-preset=ultrafast"` into a fakesink.
//! Measured, in one run:
//! - the time from `update-encoder` to `handover-complete`, against the goal
//!   `handover-delay` + one `handover-alignment` period;
//! - process CPU per second while one encoder runs, and while two run in parallel (from
//!   `handover-requested` to `handover-complete`): the ratio should be about 2;
//! - resident memory before the first handover and after N handovers (goal: within 5 %).
//!
//! Run: `cargo bench --bench handoverbin` (`LOCKSTEP_BENCH_HANDOVERS=50` by default;
//! `LOCKSTEP_BENCH_RELEASE_MEMORY=false` for glibc's allocator left alone, the figure before
//! `release-memory`).

#[path = "support/mod.rs"]
mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use support::{cpu_ns, rss_kb};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    if !support::run_by_cargo_bench() {
        return;
    }
    gst::init().unwrap();
    gstlockstep::plugin_register_static().unwrap();
    let handovers: usize = std::env::var("LOCKSTEP_BENCH_HANDOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let delay_ms = 500u64;
    let alignment = 15u32; // half a second at 30 fps
    let encoders = [
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=4000 key-int-max=60",
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=6000 key-int-max=60",
    ];
    let release_memory = std::env::var("LOCKSTEP_BENCH_RELEASE_MEMORY").as_deref() != Ok("false");
    let (width, height) = match std::env::var("LOCKSTEP_BENCH_SIZE").ok().as_deref() {
        Some("small") => (320, 180),
        _ => (1920, 1080),
    };
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width={width},height={height},framerate=30/1 \
         ! timecodestamper ! handoverbin name=hb encoder=\"{}\" handover-delay={} handover-alignment={alignment} release-memory={release_memory} \
         ! fakesink sync=false",
        encoders[0],
        delay_ms * 1_000_000
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let hb = pipeline.by_name("hb").unwrap();
    let (tx, rx) = mpsc::channel::<(String, Instant, u64)>();
    let bus = pipeline.bus().unwrap();
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name().starts_with("handover-")
        {
            let _ = tx.send((s.name().to_string(), Instant::now(), cpu_ns()));
        }
        if let gst::MessageView::Error(e) = msg.view() {
            eprintln!("error: {} ({:?})", e.error(), e.debug());
        }
        gst::BusSyncReply::Drop
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    // Warm up, then measure one encoder alone.
    std::thread::sleep(Duration::from_secs(3));
    let (c0, t0) = (cpu_ns(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let single_cpu = (cpu_ns() - c0) as f64 / t0.elapsed().as_nanos() as f64;
    let rss_before = rss_kb();

    let mut checkpoints = Vec::new();
    let mut latencies = Vec::new();
    let mut parallel_cpu = Vec::new();
    let mut failed = 0;
    for n in 0..handovers {
        let description = encoders[(n + 1) % 2];
        let (start, start_cpu) = (Instant::now(), cpu_ns());
        let ok: bool = hb.emit_by_name("update-encoder", &[&description]);
        if !ok {
            eprintln!("refused: {}", hb.property::<String>("last-refusal"));
            failed += 1;
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok((name, at, cpu)) if name == "handover-complete" => {
                    let elapsed = at - start;
                    latencies.push(elapsed.as_secs_f64() * 1000.0);
                    parallel_cpu.push((cpu - start_cpu) as f64 / elapsed.as_nanos() as f64);
                    break;
                }
                Ok((name, _, _)) if name == "handover-failed" => {
                    failed += 1;
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    failed += 1;
                    break;
                }
            }
        }
        // Let the removed branch go before the next one.
        std::thread::sleep(Duration::from_millis(300));
        if (n + 1) % 10 == 0 {
            checkpoints.push(format!("{}: {} kB", n + 1, rss_kb()));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss_kb();
    // What of the growth is memory freed but kept by the allocator (x264's frame buffers of
    // removed encoders) rather than still in use: give it back and measure again.
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    let rss_trimmed = rss_kb();
    let branches = hb
        .property::<gst::Structure>("stats")
        .get::<u32>("branches")
        .unwrap_or(0);
    let children = hb
        .downcast_ref::<gst::Bin>()
        .map_or(0, |b| b.children().len());
    pipeline.set_state(gst::State::Null).unwrap();

    let goal_ms = delay_ms as f64 + f64::from(alignment) * 1000.0 / 30.0;
    let mut sorted = latencies.clone();
    let p50 = median(&mut sorted);
    let max = latencies.iter().copied().fold(0.0, f64::max);
    let parallel = median(&mut parallel_cpu);
    println!(
        "handoverbin benchmark: live {width}x{height} at 30 fps, x264enc ultrafast zerolatency, {handovers} handovers, release-memory={release_memory}"
    );
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| update-encoder → handover-complete | p50 {p50:.0} ms, max {max:.0} ms ({} done, {failed} failed) | ≤ {goal_ms:.0} ms (delay {delay_ms} ms + one alignment period of {alignment} frames) |",
        latencies.len()
    );
    println!("| CPU, one encoder | {:.2} cores | |", single_cpu);
    println!(
        "| CPU, parallel run (median) | {:.2} cores = {:.2}× one encoder | about 2× |",
        parallel,
        parallel / single_cpu
    );
    println!(
        "| encoder branches left in the bin | {branches} ({children} children) | 1 (3 children) |"
    );
    let growth = |after: u64| (after as f64 - rss_before as f64) * 100.0 / rss_before as f64;
    println!(
        "| RSS before / after {handovers} handovers | {rss_before} kB / {rss_after} kB ({:+.1} %) | within 5 % |",
        growth(rss_after)
    );
    println!(
        "| RSS after {handovers} handovers, allocator trimmed (malloc_trim) | {rss_trimmed} kB ({:+.1} %) | within 5 % |",
        growth(rss_trimmed)
    );
    println!(
        "| RSS every 10 handovers | {} | flat |",
        checkpoints.join(", ")
    );
}
