// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `lockstep validate` (a benchmark, not a test): segments validated per second on
//! a one-hour output — 1,800 video segments of 2 s at 25 fps with their storage index, HLS
//! playlist (event, every segment listed) and static MPD with a SegmentTimeline, written once
//! by the packaging core. Access units are `LOCKSTEP_BENCH_FRAME_BYTES` (default 5,000: 1
//! Mbit/s, 250 kB per segment, 450 MB for the hour); reading and hashing the segments is most
//! of the work, so the figure is also given in MB/s. The MPD's schema check runs xmllint once.
//!
//! Run: `cargo bench -p lockstep-cli --bench validate`.

use std::time::Instant;

use gstlockstep::packaging::dash::UtcTiming;
use gstlockstep::packaging::fmp4::{VideoCodec, VideoTrack};
use gstlockstep::packaging::grid::Grid;
use gstlockstep::packaging::hls::PlaylistType;
use gstlockstep::packaging::publisher::{Frame, Publisher, PublisherConfig, SegmentFormat};
use gstlockstep::timecode::FrameRate;

const T0: i64 = 1_767_261_600_000_000_000;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockstep-bench-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = PublisherConfig {
        dir: dir.clone(),
        grid: Grid::new(FrameRate::new(25, 1).unwrap(), 50).unwrap(),
        track: VideoTrack {
            codec: VideoCodec::H264,
            codec_config: vec![1, 0x42, 0xc0, 0x0c, 0xff, 0xe0, 0],
            width: 320,
            height: 180,
            timescale: 0,
        },
        playlist_type: PlaylistType::Event,
        window: 3,
        max_files: 0,
        hls: true,
        dash: true,
        storage_index: true,
        utc_timing: UtcTiming::http_iso("https://time.example/iso"),
        segment_timeline: true,
        bandwidth: 1_000_000,
        average_bandwidth: None,
        renditions: Vec::new(),
        format: SegmentFormat::Cmaf,
        audio: Vec::new(),
        name_by_time: false,
        discontinuity_on_jump: false,
    };
    let mut publisher = Publisher::new(config).unwrap();
    let frames = 3600 * 25;
    let frame_bytes: usize = std::env::var("LOCKSTEP_BENCH_FRAME_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let started = Instant::now();
    for i in 0..frames {
        publisher
            .push(Frame {
                utc_ns: T0 + i * 40_000_000,
                keyframe: i % 50 == 0,
                data: vec![(i % 251) as u8; frame_bytes],
                timecode: None,
                decode_lead_ns: 0,
            })
            .unwrap();
    }
    publisher.finish().unwrap();
    eprintln!(
        "wrote a one-hour output in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut rates = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let report = lockstep_cli::validate::validate_dir(&dir);
        let seconds = started.elapsed().as_secs_f64();
        assert!(report.passed(), "{}", report.verdict_line());
        rates.push(report.counts.segments as f64 / seconds);
        eprintln!("{} in {seconds:.2} s", report.verdict_line());
    }
    rates.sort_by(f64::total_cmp);
    let megabytes = (frames as usize * frame_bytes) as f64 / 1e6;
    println!(
        "lockstep validate: {:.0} segments per second, {:.0} MB/s (median of 3) on a one-hour output of 1,800 segments, {megabytes:.0} MB (SHA-256, size, frames, keyframe, PDT, MPD timing and schema)",
        rates[1],
        rates[1] * megabytes / 1800.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
