// SPDX-License-Identifier: MPL-2.0
//! `handoverbin` from an application: a live channel whose encoder is replaced on air with the
//! `update-encoder` action signal. Every `handover-*` message is printed; the program then
//! checks that the handover completed exactly at the negotiated frame, on a keyframe, with
//! every frame of the output present once and decoded.
//!
//! ```text
//! cargo run --example handoverbin -- [--frames 150] [--update-at 25] [--delay-ms 400] [--alignment 5]
//!     [--encoder "x264enc ..."] [--updated-encoder "x264enc ..."]
//! ```
//!
//! ```text
//! videotestsrc is-live=true ! timecodestamper ! handoverbin name=hb encoder="…" ! h264parse ! avdec_h264 ! fakesink
//! ```
//!
//! The operator's request comes from the application's thread once `--update-at` frames went
//! out. A request the bin cannot honour returns `false` with the reason in `last-refusal`: the
//! example shows one (an encoder description that does not parse) before the real one.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Event, Failure, Result, failed, field};
use gst::prelude::*;

const NAME: &str = "handoverbin";
const USAGE: &str = "handoverbin [--frames N] [--update-at N] [--delay-ms MS] [--alignment N] [--encoder DESCRIPTION] [--updated-encoder DESCRIPTION]";
const FPS: i64 = 25;
const RUNNING_ENCODER: &str =
    "x264enc tune=zerolatency speed-preset=ultrafast bitrate=400 key-int-max=50";
const UPDATED_ENCODER: &str =
    "x264enc tune=zerolatency speed-preset=superfast bitrate=800 key-int-max=50";

#[derive(Default)]
struct Output {
    /// (frame, keyframe) of every encoded frame leaving the bin.
    encoded: Vec<(i64, bool)>,
    decoded: Vec<i64>,
}

fn main() {
    common::main(
        NAME,
        USAGE,
        &[
            "--frames",
            "--update-at",
            "--delay-ms",
            "--alignment",
            "--encoder",
            "--updated-encoder",
        ],
        &[],
        run,
    )
}

fn run(args: common::Args) -> Result<()> {
    let frames: i64 = args.number("--frames", 150, 2..=100_000)?;
    let update_at: i64 = args.number("--update-at", 25, 1..=frames - 1)?;
    let delay_ms: u64 = args.number("--delay-ms", 400, 0..=60_000)?;
    let alignment: u32 = args.number("--alignment", 5, 1..=1000)?;
    let encoder = args.string("--encoder").unwrap_or(RUNNING_ENCODER);
    let updated_encoder = args.string("--updated-encoder").unwrap_or(UPDATED_ENCODER);
    // Enough frames after the request for the delay, the lead, the alignment and the handover.
    let needed = update_at + delay_ms as i64 * FPS / 1000 + 10 + i64::from(alignment) + FPS;
    if frames < needed {
        return Err(Failure::Usage(format!(
            "--frames {frames} is too short for a handover requested at frame {update_at}: give at least {needed}"
        )));
    }

    common::init()?;
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live=true num-buffers={frames} pattern=ball \
         ! video/x-raw,format=I420,width=320,height=180,framerate={FPS}/1 ! timecodestamper \
         ! handoverbin name=hb ! h264parse ! avdec_h264 ! fakesink name=out"
    ))?;
    let hb = pipeline
        .by_name("hb")
        .ok_or_else(|| failed("no handoverbin"))?;
    hb.set_property("encoder", encoder);
    hb.set_property("handover-delay", delay_ms * 1_000_000);
    hb.set_property("handover-alignment", alignment);
    println!(
        "handoverbin: encoder={encoder:?} handover-delay={delay_ms} ms handover-alignment={alignment}"
    );

    let output = Arc::new(Mutex::new(Output::default()));
    let frames_out = Arc::new(AtomicI64::new(0));
    {
        let (output, frames_out) = (output.clone(), frames_out.clone());
        hb.static_pad("src")
            .ok_or_else(|| failed("no src pad"))?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer()
                    && let Some(frame) = common::frame_of(buffer)
                {
                    let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    output.lock().unwrap().encoded.push((frame, key));
                    frames_out.fetch_add(1, Ordering::SeqCst);
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

    let mut messages: Vec<gst::Structure> = Vec::new();
    let mut requested_after: Option<i64> = None;
    let warnings = common::run(&pipeline, Duration::from_secs(60), |event| {
        match event {
            Event::Tick | Event::Message(_) if requested_after.is_none() => {
                let out = frames_out.load(Ordering::SeqCst);
                if out >= update_at {
                    // A description that does not parse is refused, and says why.
                    let ok: bool = hb.emit_by_name("update-encoder", &[&"x264enc no-such=1 !"]);
                    let refusal = hb.property::<String>("last-refusal");
                    println!("request: update-encoder(\"x264enc no-such=1 !\") = {ok}: {refusal}");
                    if ok || refusal.is_empty() {
                        return Err(failed(
                            "an unparsable encoder description was accepted, or refused without a reason",
                        ));
                    }
                    let ok: bool = hb.emit_by_name("update-encoder", &[&updated_encoder]);
                    println!(
                        "request: update-encoder({updated_encoder:?}) = {ok}   (after {out} frames, phase {})",
                        hb.property_value("phase")
                            .serialize()
                            .map(|s| s.to_string())
                            .unwrap_or_default()
                    );
                    if !ok {
                        return Err(failed(format!(
                            "the handover was refused: {}",
                            hb.property::<String>("last-refusal")
                        )));
                    }
                    requested_after = Some(out);
                }
            }
            _ => {}
        }
        if let Event::Message(msg) = event
            && let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name().starts_with("handover-")
        {
            println!("message: {s}");
            messages.push(s.to_owned());
        }
        Ok(())
    })?;
    common::no_warnings(&warnings)?;
    let stats = hb.property::<gst::Structure>("stats");
    println!("stats: {stats}");

    // Checks.
    let requested_after =
        requested_after.ok_or_else(|| failed("the run ended before the update was requested"))?;
    let output = output.lock().unwrap();
    let first = output
        .encoded
        .first()
        .map(|e| e.0)
        .ok_or_else(|| failed("no frame out"))?;
    let names: Vec<&str> = messages.iter().map(|s| s.name().as_str()).collect();
    if names.first() != Some(&"handover-requested")
        || names.last() != Some(&"handover-complete")
        || names.contains(&"handover-failed")
    {
        return Err(failed(format!(
            "messages were {names:?}: expected handover-requested, handover-negotiated (once or again after a renegotiation), handover-complete"
        )));
    }
    let negotiated = messages
        .iter()
        .rev()
        .find(|s| s.name() == "handover-negotiated")
        .ok_or_else(|| failed("no handover-negotiated message"))?;
    let agreed: i64 = field(negotiated, "frame")?;
    let complete = messages.last().expect("checked above");
    let updated_first: i64 = field(complete, "updated-first-frame")?;
    let target_last: i64 = field(complete, "target-last-frame")?;
    let at = agreed - first;
    if updated_first != agreed || target_last != agreed - 1 {
        return Err(failed(format!(
            "negotiated frame {agreed}, but the updated encoder's first frame is {updated_first} and the target's last {target_last}"
        )));
    }
    if agreed % i64::from(alignment) != 0 {
        return Err(failed(format!(
            "the handover frame {at} is not a multiple of the alignment {alignment}"
        )));
    }
    let delay_frames = delay_ms as i64 * FPS / 1000;
    if at < requested_after + delay_frames {
        return Err(failed(format!(
            "the handover at frame {at} came before the requested delay ({delay_ms} ms after frame {requested_after})"
        )));
    }
    if !output.encoded.iter().any(|e| e.0 == agreed && e.1) {
        return Err(failed(format!(
            "the output frame {at} (the handover frame) is not a keyframe"
        )));
    }
    let encoded: Vec<i64> = output.encoded.iter().map(|e| e.0).collect();
    common::check_every_frame_once("handoverbin output", &encoded, first, frames as usize)?;
    common::check_every_frame_once("decoded output", &output.decoded, first, frames as usize)?;
    if stats.get::<u64>("handovers-completed") != Ok(1)
        || stats.get::<u64>("handovers-failed") != Ok(0)
    {
        return Err(failed(format!("stats: {stats}")));
    }
    println!(
        "ok: handover at frame {at} (requested after frame {requested_after}, delay {delay_ms} ms, alignment {alignment}), a keyframe; {frames} frames out and decoded, each once and in order"
    );
    Ok(())
}
