// SPDX-License-Identifier: MPL-2.0
//! `timecodeparse` from an application: reads an H.264 (or H.265) stream whose SEI carry SMPTE
//! timecodes, prints the `timecodeparse-latched` message and every frame's timecode and UTC
//! instant (decode order, so B-frames show up out of order), the `stats` property, and checks
//! that the answers add up.
//!
//! ```text
//! cargo run --example timecodeparse -- [--input FILE] [--frames 50] [--start hh:mm:ss:ff]
//!     [--time-zone Europe/Berlin] [--date YYYY-MM-DD] [--timeline keep|timecode]
//! ```
//!
//! Without `--input` the stream is made in memory first (upstream elements only:
//! `videotestsrc ! timecodestamper ! x264enc bframes=2 option-string=pic-struct=1 ! h264parse
//! update-timecode=true ! appsink`, 25 fps, from `--start`, default 10:00:00:00) and fed to
//! `appsrc` as bytes, so only the SEI carry the timecodes. With `--input` a file is read
//! (`filesrc ! parsebin`: an elementary stream or MPEG-TS), e.g. the fixtures in
//! `tests/data/timecode/`.
//!
//! The checks: the latched message names the first frame's timecode and UTC instant; every
//! frame has a timecode and a UTC instant, which GStreamer's own
//! `gst_video_time_code_to_date_time()` of the frame's timecode meta confirms (to its
//! microsecond resolution); in display order the UTC instants are one frame period apart; with
//! `--timeline timecode` every frame's running time is its UTC instant; `stats` counts every
//! frame.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Event, Failure, Result, failed, field};
use gst::prelude::*;

const NAME: &str = "timecodeparse";
const USAGE: &str = "timecodeparse [--input FILE | --frames N --start hh:mm:ss:ff] [--time-zone IANA] [--date YYYY-MM-DD] [--timeline keep|timecode]";
const GENERATED_RATE: (u64, u64) = (25, 1);

struct Frame {
    keyframe: bool,
    timecode: Option<gst_video::ValidVideoTimeCode>,
    utc_ns: Option<i64>,
    running_time: Option<gst::ClockTime>,
}

fn main() {
    common::main(
        NAME,
        USAGE,
        &[
            "--input",
            "--frames",
            "--start",
            "--time-zone",
            "--date",
            "--timeline",
        ],
        &[],
        run,
    )
}

/// An H.264 byte stream with pic_timing SEI timecodes, made by upstream elements. The SEI are
/// written by `h264parse update-timecode=true`, from avc input (GStreamer 1.22 corrupts them
/// in byte-stream input).
fn generate(frames: u32, start: &str) -> Result<Vec<u8>> {
    let pipeline = common::pipeline(&format!(
        "videotestsrc num-buffers={frames} pattern=ball \
         ! video/x-raw,format=I420,width=320,height=180,framerate={}/{} \
         ! timecodestamper set-internal-timecode=\"{start}\" \
         ! x264enc speed-preset=ultrafast bframes=2 key-int-max=25 option-string=pic-struct=1 \
         ! video/x-h264,stream-format=avc,alignment=au ! h264parse update-timecode=true \
         ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        GENERATED_RATE.0, GENERATED_RATE.1
    ))?;
    let sink = pipeline
        .by_name("sink")
        .and_downcast::<gst_app::AppSink>()
        .ok_or_else(|| failed("no appsink"))?;
    let bytes = Arc::new(Mutex::new(Vec::new()));
    {
        let bytes = bytes.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    bytes.lock().unwrap().extend_from_slice(&map);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    common::no_warnings(&common::run(
        &pipeline,
        Duration::from_secs(60),
        |_| Ok(()),
    )?)?;
    let bytes = std::mem::take(&mut *bytes.lock().unwrap());
    println!(
        "generated: {} bytes of H.264, {frames} frames\n",
        bytes.len()
    );
    Ok(bytes)
}

fn run(args: common::Args) -> Result<()> {
    let input = args.string("--input").map(std::path::PathBuf::from);
    let frames: u32 = args.number("--frames", 50, 1..=100_000)?;
    let start = args.string("--start").unwrap_or("10:00:00:00");
    let timeline = args.string("--timeline").unwrap_or("keep");
    if !["keep", "timecode"].contains(&timeline) {
        return Err(Failure::Usage(format!(
            "--timeline is keep or timecode, not {timeline:?}"
        )));
    }
    if let Some(path) = &input {
        if !path.is_file() {
            return Err(Failure::Usage(format!(
                "--input {}: no such file",
                path.display()
            )));
        }
        if args.string("--frames").is_some() || args.string("--start").is_some() {
            return Err(Failure::Usage(
                "--frames and --start describe the generated stream; not with --input".into(),
            ));
        }
    }

    common::init()?;
    let generated = match &input {
        Some(_) => None,
        None => Some(generate(frames, start)?),
    };

    let head = match &input {
        Some(path) => format!("filesrc location=\"{}\" ! parsebin", path.display()),
        None => "appsrc name=src caps=video/x-h264,stream-format=byte-stream ! h264parse".into(),
    };
    let pipeline = common::pipeline(&format!(
        "{head} ! timecodeparse name=tc source=embedded timeline={timeline} ! appsink name=sink sync=false"
    ))?;
    let tc = pipeline
        .by_name("tc")
        .ok_or_else(|| failed("no timecodeparse"))?;
    // Properties: the zone the timecode is local time in, and a pinned date (replays of
    // recorded content; without it the date is the latest one not later than now).
    if let Some(zone) = args.string("--time-zone") {
        tc.set_property("time-zone", zone);
    }
    if let Some(date) = args.string("--date") {
        tc.set_property("date", date);
    }
    if let Some(bytes) = generated {
        let src = pipeline
            .by_name("src")
            .and_downcast::<gst_app::AppSrc>()
            .ok_or_else(|| failed("no appsrc"))?;
        src.push_buffer(gst::Buffer::from_mut_slice(bytes))
            .map_err(|e| failed(format!("appsrc: {e:?}")))?;
        src.end_of_stream()
            .map_err(|e| failed(format!("appsrc: {e:?}")))?;
    }

    let sink = pipeline
        .by_name("sink")
        .and_downcast::<gst_app::AppSink>()
        .ok_or_else(|| failed("no appsink"))?;
    let out = Arc::new(Mutex::new(Vec::<Frame>::new()));
    {
        let out = out.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let segment = sample
                        .segment()
                        .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
                    let frame = Frame {
                        keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        timecode: buffer
                            .meta::<gst_video::VideoTimeCodeMeta>()
                            .map(|m| m.tc()),
                        utc_ns: buffer
                            .iter_meta::<gst::ReferenceTimestampMeta>()
                            .find(|m| {
                                m.reference()
                                    .structure(0)
                                    .is_some_and(|s| s.name() == "timestamp/x-unix")
                            })
                            .map(|m| m.timestamp().nseconds() as i64),
                        running_time: segment
                            .zip(buffer.pts())
                            .and_then(|(segment, pts)| segment.to_running_time(pts)),
                    };
                    let mut out = out.lock().unwrap();
                    println!(
                        "frame {:4} {} timecode {}  UTC {}{}",
                        out.len(),
                        if frame.keyframe { "I " } else { "  " },
                        frame
                            .timecode
                            .as_ref()
                            .map_or("(none)".into(), |tc| tc.to_string()),
                        frame.utc_ns.map_or("(none)".into(), |ns| {
                            gstlockstep::timecode::utc::format_rfc3339_millis(ns)
                        }),
                        frame
                            .running_time
                            .map(|rt| format!("  running time {}", rt.nseconds()))
                            .unwrap_or_default(),
                    );
                    out.push(frame);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    let mut latched: Vec<gst::Structure> = Vec::new();
    let warnings = common::run(&pipeline, Duration::from_secs(60), |event| {
        if let Event::Message(msg) = event
            && let Some(s) = common::element_message(msg, "timecodeparse-latched")
        {
            println!("latched: {s}");
            latched.push(s.to_owned());
        }
        Ok(())
    })?;
    let stats = tc.property::<gst::Structure>("stats");
    println!("stats: {stats}");
    if latched.is_empty() {
        return Err(failed(format!(
            "timecodeparse latched no timecode: the input carries none ({stats})"
        )));
    }
    common::no_warnings(&warnings)?;
    check(
        &latched,
        &out.lock().unwrap(),
        &stats,
        timeline == "timecode",
    )
}

fn check(
    latched: &[gst::Structure],
    frames: &[Frame],
    stats: &gst::Structure,
    utc_timeline: bool,
) -> Result<()> {
    let first = frames.first().ok_or_else(|| failed("no frame came out"))?;
    let latch = latched
        .first()
        .ok_or_else(|| failed("no timecodeparse-latched message"))?;
    let reason: String = field(latch, "reason")?;
    let latch_tc: String = field(latch, "timecode")?;
    let latch_utc: i64 = field(latch, "utc-ns")?;
    let first_tc = first.timecode.as_ref().map(|tc| tc.to_string());
    if reason != "first" || Some(&latch_tc) != first_tc.as_ref() || Some(latch_utc) != first.utc_ns
    {
        return Err(failed(format!(
            "the latch ({reason}, {latch_tc}, {latch_utc}) is not the first frame ({first_tc:?}, {:?})",
            first.utc_ns
        )));
    }
    let mut display: Vec<(i64, &gst_video::ValidVideoTimeCode)> = Vec::new();
    for (index, frame) in frames.iter().enumerate() {
        let (Some(tc), Some(utc_ns)) = (&frame.timecode, frame.utc_ns) else {
            return Err(failed(format!(
                "frame {index} has no timecode or no UTC instant"
            )));
        };
        // GStreamer's own reading of the meta: the daily jam (the resolved date, in the zone)
        // plus the timecode, to the microsecond.
        let date_time = tc
            .to_date_time()
            .map_err(|e| failed(format!("frame {index}: timecode {tc} has no date: {e}")))?;
        let gst_us = date_time.to_unix() * 1_000_000 + i64::from(date_time.microsecond());
        if (utc_ns / 1000 - gst_us).abs() > 1 {
            return Err(failed(format!(
                "frame {index}: UTC meta {utc_ns} ns, but gst_video_time_code_to_date_time({tc}) gives {gst_us} µs"
            )));
        }
        if utc_timeline && frame.running_time.map(|rt| rt.nseconds() as i64) != Some(utc_ns) {
            return Err(failed(format!(
                "frame {index}: running time {:?} is not its UTC instant {utc_ns} (timeline=timecode)",
                frame.running_time
            )));
        }
        display.push((utc_ns, tc));
    }
    display.sort_by_key(|d| d.0);
    let rate = display[0].1.fps();
    let period_ns = 1_000_000_000f64 * rate.denom() as f64 / rate.numer() as f64;
    for pair in display.windows(2) {
        let step = (pair[1].0 - pair[0].0) as f64;
        if (step - period_ns).abs() > 1.0 {
            return Err(failed(format!(
                "in display order, {} and {} are {step} ns apart, not one frame ({period_ns:.1} ns)",
                pair[0].1, pair[1].1
            )));
        }
    }
    let count = frames.len() as u64;
    if stats.get::<u64>("frames") != Ok(count) || stats.get::<u64>("embedded") != Ok(count) {
        return Err(failed(format!(
            "stats count other frames than the {count} that came out: {stats}"
        )));
    }
    println!(
        "ok: {count} frames, latched at {latch_tc} = {}, every frame's UTC instant agrees with GStreamer's reading of its timecode, one frame period apart in display order{}",
        gstlockstep::timecode::utc::format_rfc3339_millis(latch_utc),
        if utc_timeline {
            ", running time = UTC"
        } else {
            ""
        }
    );
    Ok(())
}
