// SPDX-License-Identifier: MPL-2.0
//! `synchronizedswitch` from an application: two live x264 branches of one timecoded source, a
//! switch scheduled on a frame with the `switch-at-frame` (or `switch-at`) action signal, and a
//! failover when the branch on air is cut. Every `synchronizedswitch-switched` message is
//! printed; the program then checks that the switches happened at the requested frames and
//! that the decoded output has every frame exactly once.
//!
//! ```text
//! cargo run --example synchronizedswitch -- [--frames 150] [--switch-at-frame 50 | --switch-at 00:00:02:00]
//!     [--cut-at 100] [--timeout-ms 300]
//! ```
//!
//! ```text
//! videotestsrc is-live=true ! timecodestamper ! tee
//!   tee. ! queue ! x264enc key-int-max=25 ! valve name=cut_0 ! sw.sink_0   (on air first)
//!   tee. ! queue ! x264enc key-int-max=10 ! valve name=cut_1 ! sw.sink_1
//! synchronizedswitch name=sw ! h264parse ! avdec_h264 ! fakesink
//! ```
//!
//! Frame numbers on the command line count from the first frame out (0). The switch goes to
//! `sink_1` and must land on one of its keyframes (a multiple of 10); `--cut-at` closes the valve
//! of the branch on air from that frame on (an encoder that stops delivering), and after
//! `timeout` the output fails over to `sink_0` exactly there, which must be one of its keyframes
//! (a multiple of 25) for nothing to be lost.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Event, Failure, Result, failed, field};
use gst::prelude::*;

const NAME: &str = "synchronizedswitch";
const USAGE: &str = "synchronizedswitch [--frames N] [--switch-at-frame N | --switch-at hh:mm:ss:ff] [--cut-at N] [--timeout-ms MS]";
const FPS: i64 = 25;
const GOP_0: i64 = 25;
const GOP_1: i64 = 10;

#[derive(Default)]
struct Output {
    /// (frame, keyframe) of every encoded frame leaving the switch.
    encoded: Vec<(i64, bool)>,
    /// Frame of every decoded picture.
    decoded: Vec<i64>,
}

struct Switched {
    old_pad: String,
    new_pad: String,
    frame: i64,
    timecode: String,
    reason: String,
}

fn main() {
    common::main(
        NAME,
        USAGE,
        &[
            "--frames",
            "--switch-at-frame",
            "--switch-at",
            "--cut-at",
            "--timeout-ms",
        ],
        &[],
        run,
    )
}

/// Frame of the day of a 25 fps `hh:mm:ss:ff` label.
fn label_frames(label: &str) -> Option<i64> {
    let parts: Vec<i64> = label
        .split([':', ';'])
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [h, m, s, f] if h < 24 && m < 60 && s < 60 && f < FPS => {
            Some(((h * 60 + m) * 60 + s) * FPS + f)
        }
        _ => None,
    }
}

fn run(args: common::Args) -> Result<()> {
    let frames: i64 = args.number("--frames", 150, 2..=100_000)?;
    let timeout_ms: u64 = args.number("--timeout-ms", 300, 40..=1000)?;
    let cut_at: i64 = args.number("--cut-at", 100, 1..=frames - 1)?;
    let switch_label = args.string("--switch-at").map(str::to_owned);
    if switch_label.is_some() && args.string("--switch-at-frame").is_some() {
        return Err(Failure::Usage(
            "give --switch-at-frame or --switch-at, not both".into(),
        ));
    }
    // With a label, the frame is known once the first frame's timecode is (below).
    let switch_at_frame: i64 = args.number("--switch-at-frame", 50, 1..=frames - 1)?;
    if switch_label.is_none() && switch_at_frame % GOP_1 != 0 {
        return Err(Failure::Usage(format!(
            "--switch-at-frame must be a keyframe of sink_1 (a multiple of {GOP_1})"
        )));
    }
    if switch_label.is_none() && cut_at <= switch_at_frame {
        return Err(Failure::Usage(format!(
            "--cut-at {cut_at} must come after the switch at frame {switch_at_frame}"
        )));
    }
    if cut_at % GOP_0 != 0 {
        return Err(Failure::Usage(format!(
            "--cut-at must be a keyframe of sink_0 (a multiple of {GOP_0}) for a lossless failover"
        )));
    }
    if let Some(label) = &switch_label
        && label_frames(label).is_none()
    {
        return Err(Failure::Usage(format!(
            "--switch-at {label:?} is not a 25 fps timecode hh:mm:ss:ff"
        )));
    }

    common::init()?;
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live=true num-buffers={frames} pattern=ball \
         ! video/x-raw,format=I420,width=320,height=180,framerate={FPS}/1 ! timecodestamper ! tee name=t \
         t. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=500 key-int-max={GOP_0} option-string=scenecut=0 \
            ! valve name=cut_0 ! sw.sink_0 \
         t. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max={GOP_1} option-string=scenecut=0 \
            ! valve name=cut_1 ! sw.sink_1 \
         synchronizedswitch name=sw timeout={} ! h264parse ! avdec_h264 ! fakesink name=out",
        timeout_ms * 1_000_000
    ))?;
    let switch = pipeline.by_name("sw").ok_or_else(|| failed("no switch"))?;
    let output = Arc::new(Mutex::new(Output::default()));
    // The first frame's number, from the initial switch message: command-line frames count
    // from it.
    let first = Arc::new(Mutex::new(None::<i64>));

    // The cut: when the frame before `cut_at` leaves the switch, the branch on air loses every
    // later frame. The probe runs in that branch's streaming thread, before its next frame
    // reaches the valve, so the cut is exact (a real encoder failure is not, and costs the
    // frames until the backup's next keyframe: a reported gap).
    let cut_done = Arc::new(AtomicBool::new(false));
    {
        let output = output.clone();
        let pipeline_weak = pipeline.downgrade();
        let cut_done = cut_done.clone();
        switch
            .static_pad("src")
            .ok_or_else(|| failed("no src pad"))?
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let Some(buffer) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                let Some(frame) = common::frame_of(buffer) else {
                    return gst::PadProbeReturn::Ok;
                };
                let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                let count = {
                    let mut output = output.lock().unwrap();
                    output.encoded.push((frame, key));
                    output.encoded.len() as i64
                };
                if count == cut_at
                    && !cut_done.swap(true, Ordering::SeqCst)
                    && let Some(pipeline) = pipeline_weak.upgrade()
                    && let Some(element) = pad.parent_element()
                {
                    let active = element.property::<gst::Pad>("active-pad").name();
                    let branch = active.trim_start_matches("sink_");
                    println!("cut: {active} delivers nothing from frame {cut_at} on");
                    if let Some(valve) = pipeline.by_name(&format!("cut_{branch}")) {
                        valve.set_property("drop", true);
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }
    {
        let output = output.clone();
        pipeline
            .by_name("out")
            .and_then(|sink| sink.static_pad("sink"))
            .ok_or_else(|| failed("no sink pad"))?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(frame) = info.buffer().and_then(|b| common::frame_of(b)) {
                    output.lock().unwrap().decoded.push(frame);
                }
                gst::PadProbeReturn::Ok
            });
    }

    let mut switches: Vec<Switched> = Vec::new();
    let mut requested: Option<i64> = None;
    let warnings = common::run(&pipeline, Duration::from_secs(60), |event| {
        let Event::Message(msg) = event else {
            return Ok(());
        };
        let Some(s) = common::element_message(msg, "synchronizedswitch-switched")
            .or_else(|| common::element_message(msg, "synchronizedswitch-gap"))
            .or_else(|| common::element_message(msg, "synchronizedswitch-switch-failed"))
        else {
            return Ok(());
        };
        println!("message: {s}");
        if s.name() != "synchronizedswitch-switched" {
            return Ok(());
        }
        let switched = Switched {
            old_pad: field(s, "old-pad")?,
            new_pad: field(s, "new-pad")?,
            frame: field(s, "frame")?,
            timecode: field(s, "timecode")?,
            reason: field(s, "reason")?,
        };
        if switched.reason == "initial" {
            // Schedule the switch now that frame numbers are known, as an operator's
            // console would.
            *first.lock().unwrap() = Some(switched.frame);
            let pad = switch
                .static_pad("sink_1")
                .ok_or_else(|| failed("no sink_1"))?;
            let (accepted, at) = match &switch_label {
                Some(label) => {
                    let first_label = label_frames(&switched.timecode).ok_or_else(|| {
                        failed(format!("first timecode {:?} unreadable", switched.timecode))
                    })?;
                    let at = label_frames(label).unwrap_or_default() - first_label;
                    if at <= 0 || at % GOP_1 != 0 {
                        return Err(Failure::Usage(format!(
                            "--switch-at {label} is frame {at} of this run: it must lie ahead and be a keyframe of sink_1 (a multiple of {GOP_1})"
                        )));
                    }
                    let accepted: bool = switch.emit_by_name("switch-at", &[&pad, label]);
                    println!("request: switch-at(sink_1, {label:?}) = {accepted}");
                    (accepted, at)
                }
                None => {
                    let absolute = switched.frame + switch_at_frame;
                    let accepted: bool = switch.emit_by_name("switch-at-frame", &[&pad, &absolute]);
                    println!(
                        "request: switch-at-frame(sink_1, {absolute}) = {accepted}   (frame {switch_at_frame} of this run)"
                    );
                    (accepted, switch_at_frame)
                }
            };
            if !accepted {
                return Err(failed(format!(
                    "the switch request was refused: {}",
                    switch.property::<String>("last-rejection")
                )));
            }
            requested = Some(at);
        }
        switches.push(switched);
        Ok(())
    })?;
    common::no_warnings(&warnings)?;
    let stats = switch.property::<gst::Structure>("stats");
    println!("stats: {stats}");

    // Checks: what was printed adds up.
    let first = first
        .lock()
        .unwrap()
        .ok_or_else(|| failed("no initial switch message"))?;
    let requested = requested.ok_or_else(|| failed("the switch was never requested"))?;
    let seen: Vec<(String, i64, String)> = switches
        .iter()
        .map(|s| (s.reason.clone(), s.frame - first, s.new_pad.clone()))
        .collect();
    let expected = vec![
        ("initial".to_string(), 0, "sink_0".to_string()),
        ("scheduled".to_string(), requested, "sink_1".to_string()),
        ("timeout".to_string(), cut_at, "sink_0".to_string()),
    ];
    if cut_at <= requested || !cut_done.load(Ordering::SeqCst) {
        return Err(failed(format!(
            "the cut at frame {cut_at} must come after the switch at frame {requested}"
        )));
    }
    if seen != expected {
        return Err(failed(format!(
            "switches (reason, frame, new pad) were {seen:?}, expected {expected:?}"
        )));
    }
    let output = output.lock().unwrap();
    let encoded: Vec<i64> = output.encoded.iter().map(|e| e.0).collect();
    common::check_every_frame_once("switch output", &encoded, first, frames as usize)?;
    common::check_every_frame_once("decoded output", &output.decoded, first, frames as usize)?;
    for s in &switches {
        let key = output
            .encoded
            .iter()
            .find(|e| e.0 == s.frame)
            .is_some_and(|e| e.1);
        if !key {
            return Err(failed(format!(
                "the {} switch at frame {} is not on a keyframe",
                s.reason,
                s.frame - first
            )));
        }
    }
    for (name, value) in [
        ("gaps", stats.get::<u64>("gaps")),
        ("repeats", stats.get::<u64>("repeats")),
    ] {
        if value != Ok(0) {
            return Err(failed(format!("stats {name} = {value:?}, expected 0")));
        }
    }
    for s in &switches {
        println!(
            "switched: {:<9} {:>6} -> {} at frame {} (timecode {})",
            s.reason,
            if s.old_pad.is_empty() {
                "-"
            } else {
                &s.old_pad
            },
            s.new_pad,
            s.frame - first,
            s.timecode
        );
    }
    println!(
        "ok: {frames} frames out and decoded, each once and in order; switched at frame {requested} as requested; failover at the cut, frame {cut_at}; every switch on a keyframe"
    );
    Ok(())
}
