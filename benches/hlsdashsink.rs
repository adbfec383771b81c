// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `hlsdashsink` against the upstream sinks a user would otherwise pick, in one
//! run, on the same pre-encoded input (a benchmark, not a test).
//!
//! Input: 1,500 frames (60 s of content) of 640x360 25 fps `videotestsrc pattern=ball`,
//! through `timecodeparse timeline=timecode` (so every frame carries its UTC instant) and
//! `x264enc speed-preset=ultrafast tune=zerolatency key-int-max=25` (a keyframe at every 1 s
//! boundary, which all three sinks need), kept in memory and replayed through `appsrc` into:
//! - `hlsdashsink` (HLS + DASH, CMAF, 1 s segments, window 5),
//! - `hlsdashsink segment-format=ts dash=false` (HLS, MPEG-TS: the same output as hlssink2),
//! - `h264parse ! hlssink2` (MPEG-TS, target-duration 1, window 5),
//! - `h264parse ! dashsink muxer=ts dynamic=true` (target-duration 1: DASH with MPEG-TS
//!   fragments, the dashsink muxer that works on 1.22) and `muxer=mp4` (which writes two
//!   fragments and hangs on 1.22, also with zero-based timestamps from `gst-launch-1.0`);
//! - and with 48 kHz stereo AAC (avenc_aac, 128 kbit/s, pre-encoded too, timestamped on the
//!   video's timeline): `hlsdashsink` with an `audio_0` pad (HLS+DASH, CMAF, an audio
//!   rendition) against `hlssink2` with its `audio` pad (MPEG-TS, audio muxed in).
//!
//! Measured:
//! - CPU per frame: process user+system time (getrusage) for the whole input pushed as fast as
//!   the sink takes it, median of 3 runs; shown per hour of 25 fps content and as a ratio to
//!   hlssink2.
//! - Manifest latency: the last frame of a segment is pushed when the pipeline is idle; the
//!   time until the manifest file (replaced or rewritten) changes on disk, polled every 50 µs.
//!   A sink that waits for the next keyframe gets it one frame period (40 ms) later, as in a
//!   live stream. p50 and p99 over the segment boundaries.
//!
//! Run: `cargo bench --bench hlsdashsink`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gst::prelude::*;

#[path = "support/mod.rs"]
mod support;
use support::cpu_ns;

const FRAMES: usize = 1_500;
/// Under `cargo test --all-targets` (no `--bench` argument) a smoke run: few frames, no
/// dashsink (it stalls for its 30 s EOS timeout on every run).
const SMOKE_FRAMES: usize = 100;
const FRAME_NS: u64 = 40_000_000;
const FRAMES_PER_SEGMENT: usize = 25;

/// Runs `launch` (ending in `appsink name=out`) to its end and keeps the caps and buffers.
fn collect(launch: &str) -> (gst::Caps, Vec<gst::Buffer>) {
    let pipeline = gst::parse::launch(launch)
        .expect("encoder pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let appsink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut caps = None;
    let mut buffers = Vec::new();
    while let Ok(sample) = appsink.pull_sample() {
        caps = sample.caps_owned();
        buffers.push(sample.buffer_owned().unwrap());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (caps.expect("caps"), buffers)
}

/// 60 s (or the smoke run's length) of pre-encoded AAC: caps and frames, PTS from `start_ns`
/// on (the video's timeline: running time = UTC).
fn encode_audio(seconds: u64, start_ns: u64) -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, mut buffers) = collect(&format!(
        "audiotestsrc num-buffers={} samplesperbuffer=1024 ! \
         audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! aacparse ! \
         audio/mpeg,stream-format=raw ! appsink name=out sync=false",
        seconds * 48_000 / 1024
    ));
    for buffer in &mut buffers {
        let pts = buffer.pts().map_or(0, |p| p.nseconds());
        buffer
            .make_mut()
            .set_pts(gst::ClockTime::from_nseconds(start_ns + pts));
    }
    (caps, buffers)
}

/// The pre-encoded input: caps and buffers (PTS = UTC ns, metas attached).
fn encode(frames: usize) -> (gst::Caps, Vec<gst::Buffer>) {
    collect(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,format=I420,width=640,height=360,framerate=25/1 ! \
         timecodestamper set-internal-timecode=10:00:00:00 ! \
         timecodeparse source=meta reference-time=2026-01-01T12:00:00Z timeline=timecode ! \
         x264enc speed-preset=ultrafast tune=zerolatency key-int-max=25 bitrate=1500 ! \
         video/x-h264,stream-format=avc,alignment=au ! appsink name=out sync=false"
    ))
}

#[derive(Clone, Copy)]
enum Candidate {
    HlsDashSink,
    HlsDashSinkTs,
    HlsSink2,
    DashSinkTs,
    DashSink,
    HlsDashSinkAudio,
    HlsSink2Audio,
}

impl Candidate {
    fn name(self) -> &'static str {
        match self {
            Candidate::HlsDashSink => "hlsdashsink (HLS+DASH, CMAF)",
            Candidate::HlsDashSinkTs => "hlsdashsink (HLS, TS)",
            Candidate::HlsSink2 => "hlssink2 (HLS, TS)",
            Candidate::DashSinkTs => "dashsink (DASH, TS)",
            Candidate::DashSink => "dashsink (DASH, mp4)",
            Candidate::HlsDashSinkAudio => "hlsdashsink + AAC (CMAF)",
            Candidate::HlsSink2Audio => "hlssink2 + AAC (TS)",
        }
    }

    fn with_audio(self) -> bool {
        matches!(self, Candidate::HlsDashSinkAudio | Candidate::HlsSink2Audio)
    }

    fn launch(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Candidate::HlsDashSink => format!(
                "appsrc name=src format=time max-bytes=0 ! hlsdashsink location={dir} \
                 segment-duration=1000000000 playlist-length=5 max-files=10 bandwidth=1600000"
            ),
            Candidate::HlsDashSinkTs => format!(
                "appsrc name=src format=time max-bytes=0 ! hlsdashsink location={dir} \
                 segment-duration=1000000000 playlist-length=5 max-files=10 bandwidth=1600000 \
                 segment-format=ts dash=false"
            ),
            Candidate::HlsSink2 => format!(
                "appsrc name=src format=time max-bytes=0 ! h264parse ! hlssink2 \
                 location={dir}/segment%05d.ts playlist-location={dir}/playlist.m3u8 \
                 target-duration=1 playlist-length=5 max-files=10"
            ),
            Candidate::DashSinkTs => format!(
                "appsrc name=src format=time max-bytes=0 ! h264parse ! dashsink \
                 mpd-root-path={dir} mpd-filename=manifest.mpd muxer=ts dynamic=true \
                 target-duration=1"
            ),
            Candidate::DashSink => format!(
                "appsrc name=src format=time max-bytes=0 ! h264parse ! dashsink \
                 mpd-root-path={dir} mpd-filename=manifest.mpd muxer=mp4 dynamic=true \
                 target-duration=1"
            ),
            Candidate::HlsDashSinkAudio => format!(
                "appsrc name=src format=time max-bytes=0 ! hlsdashsink name=sink location={dir} \
                 segment-duration=1000000000 playlist-length=5 max-files=10 bandwidth=1600000 \
                 audio-bandwidth=128000 \
                 appsrc name=asrc format=time max-bytes=0 ! sink.audio_0"
            ),
            Candidate::HlsSink2Audio => format!(
                "appsrc name=src format=time max-bytes=0 ! h264parse ! hlssink2 name=sink \
                 location={dir}/segment%05d.ts playlist-location={dir}/playlist.m3u8 \
                 target-duration=1 playlist-length=5 max-files=10 \
                 appsrc name=asrc format=time max-bytes=0 ! aacparse ! sink.audio"
            ),
        }
    }

    /// The manifest whose update ends a segment's publication.
    fn manifest(self, dir: &Path) -> PathBuf {
        match self {
            // Written last of the two manifests.
            Candidate::HlsDashSink | Candidate::HlsDashSinkAudio => dir.join("manifest.mpd"),
            Candidate::HlsDashSinkTs => dir.join("video.m3u8"),
            Candidate::HlsSink2 | Candidate::HlsSink2Audio => dir.join("playlist.m3u8"),
            Candidate::DashSink | Candidate::DashSinkTs => dir.join("manifest.mpd"),
        }
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stamp(path: &Path) -> Option<(u64, i64, i64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

struct Result {
    cpu_ns_per_frame: Vec<f64>,
    latencies_ms: Vec<f64>,
    error: Option<String>,
    /// The manifest stopped changing during the latency run.
    stalled: bool,
}

/// The input: video, and audio for the candidates that take it.
struct Input {
    caps: gst::Caps,
    buffers: Vec<gst::Buffer>,
    audio_caps: gst::Caps,
    audio: Vec<gst::Buffer>,
}

/// A running candidate: the pipeline, its video source and (with audio) its audio source, with
/// the index of the next audio frame to push.
struct Running {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    audio_src: Option<gst_app::AppSrc>,
    next_audio: usize,
}

impl Running {
    /// Pushes video frame `i`, after the audio frames that start before its end (so a
    /// segment's audio is complete when its last video frame arrives, as in a live stream).
    fn push(&mut self, input: &Input, i: usize) -> bool {
        if let Some(audio_src) = &self.audio_src {
            let end = input.buffers[i].pts().map_or(0, |p| p.nseconds()) + FRAME_NS;
            while let Some(frame) = input.audio.get(self.next_audio) {
                if frame.pts().map_or(0, |p| p.nseconds()) >= end {
                    break;
                }
                let _ = audio_src.push_buffer(frame.clone());
                self.next_audio += 1;
            }
        }
        self.appsrc.push_buffer(input.buffers[i].clone()).is_ok()
    }
}

fn start(sink: Candidate, dir: &Path, input: &Input) -> Running {
    let pipeline = gst::parse::launch(&sink.launch(dir))
        .expect("sink pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let source = |name: &str, caps: &gst::Caps| {
        let appsrc = pipeline
            .by_name(name)?
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        appsrc.set_caps(Some(caps));
        Some(appsrc)
    };
    let appsrc = source("src", &input.caps).expect("a video appsrc");
    let audio_src = source("asrc", &input.audio_caps);
    pipeline.set_state(gst::State::Playing).unwrap();
    Running {
        pipeline,
        appsrc,
        audio_src,
        next_audio: 0,
    }
}

fn finish(running: &Running) -> Option<String> {
    let Running {
        pipeline, appsrc, ..
    } = running;
    if let Some(audio_src) = &running.audio_src {
        let _ = audio_src.end_of_stream();
    }
    let _ = appsrc.end_of_stream();
    let message = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    match message.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => None,
        Some(gst::MessageView::Error(e)) => Some(e.error().to_string()),
        // splitmuxsink-based sinks sometimes never post EOS (it hangs at EOS).
        _ => Some("no EOS within 30 s".into()),
    }
}

fn measure(sink: Candidate, input: &Input) -> Result {
    let buffers = &input.buffers;
    eprintln!("measuring {}", sink.name());
    let mut result = Result {
        cpu_ns_per_frame: Vec::new(),
        latencies_ms: Vec::new(),
        error: None,
        stalled: false,
    };
    // CPU: as fast as the sink takes it.
    for round in 0..3 {
        let dir = fresh_dir(&format!("cpu{round}"));
        let mut running = start(sink, &dir, input);
        let before = cpu_ns();
        for i in 0..buffers.len() {
            if !running.push(input, i) {
                break;
            }
        }
        if let Some(error) = finish(&running) {
            result.error = Some(error);
        }
        result
            .cpu_ns_per_frame
            .push((cpu_ns() - before) as f64 / buffers.len() as f64);
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("  CPU done; manifest latency");
    // Latency: idle pipeline at every boundary, live timing after the last frame.
    let dir = fresh_dir("latency");
    let manifest = sink.manifest(&dir);
    let mut running = start(sink, &dir, input);
    let mut i = 0;
    let mut timeouts = 0;
    while i < buffers.len() {
        if timeouts >= 3 {
            // The sink stopped publishing (or consuming); count the rest as not measured.
            result.stalled = true;
            break;
        }
        let last_of_segment = i % FRAMES_PER_SEGMENT == FRAMES_PER_SEGMENT - 1;
        if !last_of_segment || i < FRAMES_PER_SEGMENT {
            running.push(input, i);
            i += 1;
            continue;
        }
        // Let the backlog drain so only this frame is in flight.
        let draining = Instant::now();
        let backlog = |r: &Running| {
            r.appsrc.current_level_buffers()
                + r.audio_src
                    .as_ref()
                    .map_or(0, |a| a.current_level_buffers())
        };
        while backlog(&running) > 0 && draining.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(5));
        let before = stamp(&manifest);
        let pushed = Instant::now();
        running.push(input, i);
        i += 1;
        let mut next_pushed = false;
        loop {
            if stamp(&manifest) != before {
                result
                    .latencies_ms
                    .push(pushed.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            let waited = pushed.elapsed();
            if !next_pushed && waited >= Duration::from_nanos(FRAME_NS) && i < buffers.len() {
                // The next frame (a keyframe) arrives one frame period later, as live.
                running.push(input, i);
                i += 1;
                next_pushed = true;
            }
            if waited > Duration::from_secs(3) {
                timeouts += 1;
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    if let Some(error) = finish(&running) {
        result.error.get_or_insert(error);
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    gst::init().expect("GStreamer initialises");
    gstlockstep::plugin_register_static().expect("lockstep registers");
    let full = std::env::args().any(|a| a == "--bench");
    let frames = if full { FRAMES } else { SMOKE_FRAMES };
    println!(
        "hlsdashsink benchmark{}: {frames} frames of 640x360 25 fps H.264, 1 s segments",
        if full {
            ""
        } else {
            " (smoke run; `cargo bench` for figures)"
        }
    );
    let (caps, buffers) = encode(frames);
    assert_eq!(buffers.len(), frames, "encoded every frame");
    let start_ns = buffers[0].pts().expect("timestamped video").nseconds();
    let (audio_caps, audio) = encode_audio(frames as u64 * FRAME_NS / 1_000_000_000, start_ns);
    let input = Input {
        caps,
        buffers,
        audio_caps,
        audio,
    };
    let sinks: &[Candidate] = if full {
        &[
            Candidate::HlsDashSink,
            Candidate::HlsDashSinkTs,
            Candidate::HlsSink2,
            Candidate::DashSinkTs,
            Candidate::DashSink,
            Candidate::HlsDashSinkAudio,
            Candidate::HlsSink2Audio,
        ]
    } else {
        &[
            Candidate::HlsDashSink,
            Candidate::HlsSink2,
            Candidate::HlsDashSinkAudio,
            Candidate::HlsSink2Audio,
        ]
    };
    let results: Vec<(Candidate, Result)> = sinks
        .iter()
        .map(|&sink| (sink, measure(sink, &input)))
        .collect();
    // Each candidate against hlssink2 with the same input (with or without audio).
    let reference = |audio: bool| {
        results
            .iter()
            .find(|(sink, _)| {
                matches!(sink, Candidate::HlsSink2 | Candidate::HlsSink2Audio)
                    && sink.with_audio() == audio
            })
            .map_or(f64::NAN, |(_, r)| percentile(&r.cpu_ns_per_frame, 0.5))
    };
    println!(
        "{:<30} {:>12} {:>14} {:>9} {:>12} {:>12} {:>9}",
        "sink",
        "CPU µs/frame",
        "CPU s/hour",
        "vs hlssink2",
        "manifest p50",
        "manifest p99",
        "segments"
    );
    for (sink, result) in &results {
        let cpu = percentile(&result.cpu_ns_per_frame, 0.5);
        println!(
            "{:<30} {:>12.1} {:>14.2} {:>9.2}x {:>9.2} ms {:>9.2} ms {:>9}{}",
            sink.name(),
            cpu / 1000.0,
            cpu * 90_000.0 / 1e9,
            cpu / reference(sink.with_audio()),
            percentile(&result.latencies_ms, 0.5),
            percentile(&result.latencies_ms, 0.99),
            result.latencies_ms.len(),
            result
                .error
                .as_ref()
                .map(|e| format!("  (error: {e})"))
                .unwrap_or_default()
                + if result.stalled {
                    "  (manifest stopped updating)"
                } else {
                    ""
                }
        );
    }
}
