// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `synchronizedswitch` against `input-selector`, in one run (a benchmark, not a
//! test).
//!
//! 300 frames of 1080p H.264 are encoded once (x264enc ultrafast, a keyframe every 30, a
//! timecode on each); the same buffers (memory shared, a fresh timecode meta per frame) are
//! then pushed, as fast as possible, round-robin into 2 and 8 sink pads of each element from one
//! thread, with a switch request every 1,000 frames, and counted on the src side. Reported: ns
//! of CPU per output frame for each element and their ratio (the goal: within 1.2× of
//! input-selector), how far the output lagged behind the newest frame pushed (frames; the
//! element's added latency), and resident memory after 100,000 and 1,000,000 frames of
//! `synchronizedswitch` (it must stay flat).
//!
//! `input-selector` runs with `sync-streams=false`: with the default it waits for the inactive
//! pads' running time, which one pushing thread cannot satisfy. `fallbackswitch` is not
//! measured: the crate `gst-plugin-fallbackswitch` 0.14 needs the 0.24 bindings, and this crate
//! is on 0.25 (one binding line per crate).
//!
//! Run: `cargo bench --bench synchronizedswitch`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use gst::prelude::*;
use gst_video::{ValidVideoTimeCode, VideoTimeCode, VideoTimeCodeFlags, VideoTimeCodeMeta};

const FPS: u32 = 30;

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// 300 encoded 1080p frames (metas stripped) and their caps.
fn encode() -> (Vec<gst::Buffer>, gst::Caps) {
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=300 pattern=ball ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
         ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=30 option-string=scenecut=0 \
         ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffers = Vec::new();
    let mut caps = None;
    while let Ok(sample) = sink.pull_sample() {
        caps = caps.or_else(|| sample.caps().map(|c| c.to_owned()));
        let mut buffer = sample.buffer().unwrap().copy();
        let b = buffer.get_mut().unwrap();
        b.set_pts(None);
        b.set_dts(None);
        buffers.push(buffer);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (buffers, caps.unwrap())
}

fn frame(base: &gst::Buffer, n: u64) -> gst::Buffer {
    let mut buffer = base.copy();
    let b = buffer.get_mut().unwrap();
    let per_day = u64::from(FPS) * 86_400;
    let f = n % per_day;
    let tc = VideoTimeCode::new(
        gst::Fraction::new(FPS as i32, 1),
        None,
        VideoTimeCodeFlags::empty(),
        (f / u64::from(FPS) / 3600) as u32,
        (f / u64::from(FPS) / 60 % 60) as u32,
        (f / u64::from(FPS) % 60) as u32,
        (f % u64::from(FPS)) as u32,
        0,
    );
    VideoTimeCodeMeta::add(b, &ValidVideoTimeCode::try_from(tc).unwrap());
    let pts = gst::ClockTime::from_nseconds(n * 1_000_000_000 / u64::from(FPS));
    b.set_pts(pts);
    b.set_dts(pts);
    buffer
}

struct Run {
    cpu_ns_per_frame: f64,
    frames_out: u64,
    max_lag: i64,
    rss_100k: u64,
    rss_end: u64,
}

fn run(
    factory: &str,
    inputs: usize,
    frames: u64,
    encoded: &[gst::Buffer],
    caps: &gst::Caps,
) -> Run {
    let element = gst::ElementFactory::make(factory).build().unwrap();
    if factory == "input-selector" {
        element.set_property("sync-streams", false);
    }
    let count = Arc::new(AtomicU64::new(0));
    let newest = Arc::new(AtomicI64::new(0));
    let max_lag = Arc::new(AtomicI64::new(0));
    let sink = {
        let (count, newest, max_lag) = (count.clone(), newest.clone(), max_lag.clone());
        gst::Pad::builder(gst::PadDirection::Sink)
            .chain_function(move |_, _, buffer| {
                let n = count.fetch_add(1, Ordering::Relaxed) as i64;
                let _ = n;
                let out = buffer.pts().map_or(0, |p| {
                    (p.nseconds() * u64::from(FPS) / 1_000_000_000) as i64
                });
                let lag = newest.load(Ordering::Relaxed) - out;
                max_lag.fetch_max(lag, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(|_, _, _| true)
            .build()
    };
    sink.set_active(true).unwrap();
    element.static_pad("src").unwrap().link(&sink).unwrap();
    let mut sources = Vec::new();
    for i in 0..inputs {
        let sinkpad = element.request_pad_simple("sink_%u").unwrap();
        let src = gst::Pad::builder(gst::PadDirection::Src)
            .name(format!("feed_{i}"))
            .build();
        src.set_active(true).unwrap();
        src.link(&sinkpad).unwrap();
        sources.push((src, sinkpad));
    }
    element.set_state(gst::State::Playing).unwrap();
    for (i, (src, _)) in sources.iter().enumerate() {
        src.push_event(gst::event::StreamStart::new(&format!("bench-{i}")));
        src.push_event(gst::event::Caps::new(caps));
        src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
    }
    let start = cpu_ns();
    let _wall = Instant::now();
    let mut rss_100k = 0;
    for n in 0..frames {
        newest.store(n as i64, Ordering::Relaxed);
        let base = &encoded[(n % encoded.len() as u64) as usize];
        for (src, _) in &sources {
            let _ = src.push(frame(base, n));
        }
        if n % 1_000 == 999 {
            let target = &sources[(n as usize / 1_000) % inputs].1;
            element.set_property("active-pad", target);
        }
        if n == 100_000 {
            rss_100k = rss_kb();
        }
    }
    let cpu = cpu_ns() - start;
    let rss_end = rss_kb();
    element.set_state(gst::State::Null).unwrap();
    let frames_out = count.load(Ordering::Relaxed);
    Run {
        cpu_ns_per_frame: cpu as f64 / frames_out.max(1) as f64,
        frames_out,
        max_lag: max_lag.load(Ordering::Relaxed),
        rss_100k,
        rss_end,
    }
}

fn main() {
    gst::init().unwrap();
    gstlockstep::plugin_register_static().unwrap();
    let (encoded, caps) = encode();
    println!(
        "synchronizedswitch vs input-selector: {} pre-encoded 1080p H.264 frames, looped",
        encoded.len()
    );
    for inputs in [2, 8] {
        let frames = 100_000;
        let selector = run("input-selector", inputs, frames, &encoded, &caps);
        let switch = run("synchronizedswitch", inputs, frames, &encoded, &caps);
        println!(
            "  {inputs} inputs, {frames} frames: synchronizedswitch {:.0} ns CPU/frame out ({} out, max lag {} frames), input-selector {:.0} ns ({} out) — ratio {:.2}",
            switch.cpu_ns_per_frame,
            switch.frames_out,
            switch.max_lag,
            selector.cpu_ns_per_frame,
            selector.frames_out,
            switch.cpu_ns_per_frame / selector.cpu_ns_per_frame
        );
    }
    let long = run("synchronizedswitch", 2, 1_000_000, &encoded, &caps);
    println!(
        "  memory, 2 inputs: RSS {} kB after 100,000 frames, {} kB after 1,000,000 ({} out, {:.0} ns CPU/frame)",
        long.rss_100k, long.rss_end, long.frames_out, long.cpu_ns_per_frame
    );
}
