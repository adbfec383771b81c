// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `timecodeparse` (a benchmark, not a test: it asserts nothing, it measures).
//!
//! 1. Generates a stream of `LOCKSTEP_BENCH_FRAMES` (default 10 000) H.264 frames whose picture
//!    timing SEI carry timecodes (x264enc pic-struct=1 + h264parse update-timecode).
//! 2. In the same run, alternating, `ROUNDS` times each, measures the process CPU time of
//!    `filesrc ! h264parse ! byte-stream,au ! fakesink` and of
//!    `filesrc ! h264parse ! byte-stream,au ! timecodeparse source=embedded ! fakesink`,
//!    and reports the medians and their ratio (goal: ≤ 1.05).
//! 3. Measures the pure SEI reader (`H264Reader::read_access_unit`) on every access unit of the
//!    stream, in SEI messages per second (goal: ≥ 5 million/s).
//!
//! Run: `cargo bench --bench timecodeparse` (release build). Prints a table; also written to
//! `target/bench-timecodeparse.txt`.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use gst::prelude::*;
use gstlockstep::bitstream::h264::H264Reader;
use gstlockstep::bitstream::{AccessUnitReader, NalFraming};

const ROUNDS: usize = 7;

fn cpu_time() -> Duration {
    // getrusage(RUSAGE_SELF): user + system time of every thread of this process, so the
    // streaming threads of a pipeline are counted too.
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn run_to_eos(launch: &str) -> Result<(), String> {
    let pipeline = gst::parse::launch(launch).map_err(|e| e.to_string())?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .ok_or("timeout")?;
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| e.to_string())?;
    match msg.view() {
        gst::MessageView::Eos(_) => Ok(()),
        gst::MessageView::Error(e) => Err(format!("{}: {:?}", e.error(), e.debug())),
        _ => Err("unexpected message".into()),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Every access unit of the file, Annex B, as h264parse delimits them.
fn access_units(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        path.display()
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let sink = pipeline
        .by_name("sink")
        .and_downcast::<gst_app::AppSink>()
        .ok_or("no appsink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let mut units = vec![];
    while let Ok(sample) = sink.pull_sample() {
        if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
            units.push(map.to_vec());
        }
    }
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| e.to_string())?;
    Ok(units)
}

fn main() -> Result<(), String> {
    if !support::run_by_cargo_bench() {
        return Ok(());
    }
    gst::init().map_err(|e| e.to_string())?;
    gstlockstep::plugin_register_static().map_err(|e| e.to_string())?;
    let env = |name: &str, default: u32| -> u32 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let frames = env("LOCKSTEP_BENCH_FRAMES", 10_000);
    let (width, height) = (
        env("LOCKSTEP_BENCH_WIDTH", 320),
        env("LOCKSTEP_BENCH_HEIGHT", 180),
    );
    let bitrate_kbps = env("LOCKSTEP_BENCH_KBPS", 400);

    let path = std::env::temp_dir().join(format!("lockstep-bench-{}.h264", std::process::id()));
    eprintln!(
        "generating {frames} frames with SEI timecodes into {}",
        path.display()
    );
    run_to_eos(&format!(
        "videotestsrc num-buffers={frames} pattern=snow ! video/x-raw,format=I420,width={width},height={height},framerate=30000/1001 ! \
         timecodestamper drop-frame=true set-internal-timecode=\"10:00:00;00\" ! \
         x264enc speed-preset=ultrafast bframes=2 key-int-max=60 bitrate={bitrate_kbps} option-string=pic-struct=1 ! \
         video/x-h264,stream-format=avc,alignment=au ! h264parse update-timecode=true ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! filesink location={}",
        path.display()
    ))?;

    let parse = "h264parse ! video/x-h264,stream-format=byte-stream,alignment=au";
    let baseline = format!("filesrc location={} ! {parse} ! fakesink", path.display());
    // A pass-through element costs something by itself: `identity` shows that floor.
    let with_identity = format!(
        "filesrc location={} ! {parse} ! identity ! fakesink",
        path.display()
    );
    let with_tc = format!(
        "filesrc location={} ! {parse} ! timecodeparse source=embedded ! fakesink",
        path.display()
    );
    // Warm the page cache and the registry once, unmeasured.
    for launch in [&baseline, &with_identity, &with_tc] {
        run_to_eos(launch)?;
    }
    let (mut base_cpu, mut identity_cpu, mut tc_cpu) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        for (launch, out) in [
            (&baseline, &mut base_cpu),
            (&with_identity, &mut identity_cpu),
            (&with_tc, &mut tc_cpu),
        ] {
            let before = cpu_time();
            run_to_eos(launch)?;
            out.push(cpu_time() - before);
        }
    }
    let (base, identity, tc) = (median(base_cpu), median(identity_cpu), median(tc_cpu));
    let ratio = tc.as_secs_f64() / base.as_secs_f64();
    let identity_ratio = identity.as_secs_f64() / base.as_secs_f64();

    // The pure reader, on every access unit of the same stream.
    let units = access_units(&path)?;
    let mut reader = H264Reader::new();
    reader.set_framing(NalFraming::AnnexB);
    let mut clocks = 0usize;
    for unit in &units {
        clocks += reader.read_access_unit(unit).clocks.len();
    }
    let mut passes = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for unit in &units {
            std::hint::black_box(reader.read_access_unit(std::hint::black_box(unit)));
        }
        passes += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_second = (passes as f64 * units.len() as f64) / elapsed;
    let bytes: usize = units.iter().map(Vec::len).sum();
    let _ = std::fs::remove_file(&path);

    let report = format!(
        "timecodeparse benchmark ({frames} frames {width}x{height} H.264 at {bitrate_kbps} kb/s with pic_timing SEI, {:.1} kB/frame, {ROUNDS} rounds, median CPU time)\n\
         | pipeline | CPU time | ratio |\n\
         |---|---|---|\n\
         | filesrc ! h264parse ! fakesink | {:.1} ms | 1.000 |\n\
         | filesrc ! h264parse ! identity ! fakesink | {:.1} ms | {identity_ratio:.3} |\n\
         | filesrc ! h264parse ! timecodeparse ! fakesink | {:.1} ms | {ratio:.3} |\n\
         timecodeparse adds {:.1}% CPU (goal: at most 5%), {:.2} µs per frame\n\
         pure SEI reader: {:.2} million access units (= pic_timing SEI messages) per second \
         ({} AUs, {} clock timestamps, {:.1} MB per pass; goal: at least 5 million/s)\n",
        bytes as f64 / 1e3 / units.len() as f64,
        base.as_secs_f64() * 1e3,
        identity.as_secs_f64() * 1e3,
        tc.as_secs_f64() * 1e3,
        (ratio - 1.0) * 100.0,
        (tc.as_secs_f64() - base.as_secs_f64()) * 1e6 / f64::from(frames),
        per_second / 1e6,
        units.len(),
        clocks,
        bytes as f64 / 1e6,
    );
    print!("{report}");
    let _ = std::fs::write(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/bench-timecodeparse.txt"
        ),
        &report,
    );
    Ok(())
}
