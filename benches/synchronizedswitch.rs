// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `synchronizedswitch` against `input-selector`, in one run (a benchmark, not a
//! test).
//!
//! 300 frames of 1080p H.264 are encoded once (x264enc ultrafast, a keyframe every 30, a
//! timecode on each); the same buffers (memory shared, a fresh timecode meta per frame) are
//! then pushed, as fast as possible, into 2 and 8 sink pads of each element, one thread per
//! input (as branches have), with a switch request every 1,000 frames, and counted on the src
//! side. Reported: process CPU per output frame for each element and the ratio to
//! input-selector (the goal: within 1.2×), and resident memory after 100,000 and
//! 1,000,000 frames of `synchronizedswitch` (it must stay flat).
//!
//! `input-selector` runs with `sync-streams=false` (no waiting on inactive pads' running time, as
//! synchronizedswitch does not wait either). `fallbackswitch` (gst-plugins-rs 0.14) is measured
//! when its plugin is on GST_PLUGIN_PATH: it is on the 0.24 bindings, this crate on 0.25, so it
//! is built as a separate crate (`benches/peers`) by `scripts/bench.sh`.
//!
//! Run: `cargo bench --bench synchronizedswitch`.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use gst_video::{ValidVideoTimeCode, VideoTimeCode, VideoTimeCodeFlags, VideoTimeCodeMeta};
use support::{cpu_ns, rss_kb};

const FPS: u32 = 30;

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
    rss_100k: u64,
    rss_end: u64,
}

/// Pushes `frames` frames into each of `inputs` request pads of `factory`, one thread per
/// input (as branches have), and counts what comes out.
fn run(
    factory: &str,
    inputs: usize,
    frames: u64,
    encoded: &Arc<Vec<gst::Buffer>>,
    caps: &gst::Caps,
) -> Option<Run> {
    let element = gst::ElementFactory::make(factory).build().ok()?;
    if factory == "input-selector" {
        element.set_property("sync-streams", false);
    }
    let count = Arc::new(AtomicU64::new(0));
    let sink = {
        let count = count.clone();
        gst::Pad::builder(gst::PadDirection::Sink)
            .chain_function(move |_, _, _buffer| {
                count.fetch_add(1, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(|_, _, _| true)
            .query_function(gst::Pad::query_default)
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
    let rss_100k = Arc::new(AtomicU64::new(0));
    let start = cpu_ns();
    std::thread::scope(|scope| {
        for (i, (src, _)) in sources.iter().enumerate() {
            let (element, encoded, sinkpads, rss_100k) = (&element, encoded, &sources, &rss_100k);
            scope.spawn(move || {
                for n in 0..frames {
                    let base = &encoded[(n % encoded.len() as u64) as usize];
                    let _ = src.push(frame(base, n));
                    if i == 0 && n % 1_000 == 999 {
                        let target = &sinkpads[(n as usize / 1_000) % inputs].1;
                        element.set_property("active-pad", target);
                    }
                    if i == 0 && n == 100_000 {
                        rss_100k.store(rss_kb(), Ordering::Relaxed);
                    }
                }
                let _ = src.push_event(gst::event::Eos::new());
            });
        }
    });
    let cpu = cpu_ns() - start;
    let rss_end = rss_kb();
    element.set_state(gst::State::Null).unwrap();
    let frames_out = count.load(Ordering::Relaxed);
    Some(Run {
        // Per frame of content (one copy pushed on each input): input-selector outputs a
        // different number of frames (it repeats or loses some at switches).
        cpu_ns_per_frame: cpu as f64 / frames.max(1) as f64,
        frames_out,
        rss_100k: rss_100k.load(Ordering::Relaxed),
        rss_end,
    })
}

fn main() {
    if !support::run_by_cargo_bench() {
        return;
    }
    gst::init().unwrap();
    gstlockstep::plugin_register_static().unwrap();
    // The peers register their elements statically when their plugin is loaded in this
    // process (the registry scanner runs in another one).
    let _ = gst::Plugin::load_by_name("lockstepbenchpeers");
    let (encoded, caps) = encode();
    let encoded = Arc::new(encoded);
    println!(
        "synchronizedswitch vs input-selector (and fallbackswitch 0.14 when scripts/bench.sh built it): {} pre-encoded 1080p H.264 frames, looped, one thread per input, process CPU per frame of content",
        encoded.len()
    );
    println!(
        "| inputs | frames | element | CPU per frame (all inputs' copies), median of 5 | frames out | ratio to input-selector |"
    );
    println!("|---|---|---|---|---|---|");
    const ROUNDS: usize = 5;
    let factories = ["input-selector", "synchronizedswitch", "fallbackswitch"];
    for inputs in [2, 8] {
        let frames = 100_000;
        // Rounds interleave the elements, so a busy moment of the machine hits them alike;
        // the median of each is reported.
        let mut results: Vec<Vec<Run>> = factories.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for (i, factory) in factories.iter().enumerate() {
                results[i].extend(run(factory, inputs, frames, &encoded, &caps));
            }
        }
        let median = |runs: &mut Vec<Run>| -> Option<(f64, u64)> {
            runs.sort_by(|a, b| a.cpu_ns_per_frame.total_cmp(&b.cpu_ns_per_frame));
            runs.get(runs.len() / 2)
                .map(|r| (r.cpu_ns_per_frame, r.frames_out))
        };
        let medians: Vec<Option<(f64, u64)>> = results.iter_mut().map(median).collect();
        let selector = medians[0].map_or(f64::NAN, |m| m.0);
        for (factory, m) in factories.iter().zip(&medians) {
            match m {
                Some((cpu, out)) => println!(
                    "| {inputs} | {frames} | {factory} | {cpu:.0} ns | {out} | {:.2} |",
                    cpu / selector
                ),
                None => println!(
                    "| {inputs} | {frames} | {factory} | not available (build it with scripts/bench.sh) | | |"
                ),
            }
        }
    }
    let long = run("synchronizedswitch", 2, 1_000_000, &encoded, &caps).unwrap();
    println!(
        "synchronizedswitch memory, 2 inputs: RSS {} kB after 100,000 frames, {} kB after 1,000,000 ({} out, {:.0} ns CPU/frame)",
        long.rss_100k, long.rss_end, long.frames_out, long.cpu_ns_per_frame
    );
}
