// SPDX-License-Identifier: MPL-2.0
//! `handoverbin` as a user sees it: a live encoder replaced again and again while the output is
//! decoded frame by frame; the bus messages; failures that leave the output untouched.

use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;

use gstlockstep::framemeta;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstlockstep::plugin_register_static().expect("lockstep registers");
    });
}

#[derive(Default, Debug)]
struct Observed {
    base: Option<i64>,
    /// (frame, keyframe) of every encoded buffer leaving the bin.
    encoded: Vec<(i64, bool)>,
    decoded: Vec<i64>,
    /// (message name, frame field if any) in bus order.
    messages: Vec<(String, i64, String)>,
    errors: Vec<String>,
}

/// Live 25 fps 320x180 → timecodestamper → handoverbin → h264parse → avdec_h264 → appsink.
/// `on_frame` runs on each encoded output frame (relative index) and may request handovers.
fn run(
    frames: u32,
    encoder: &str,
    configure: impl FnOnce(&gst::Element),
    on_frame: impl Fn(&gst::Element, i64) + Send + Sync + 'static,
) -> Observed {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers={frames} pattern=ball ! video/x-raw,format=I420,width=320,height=180,framerate=25/1 \
         ! timecodestamper ! handoverbin name=hb encoder=\"{encoder}\" ! h264parse ! avdec_h264 ! appsink name=out sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let hb = pipeline.by_name("hb").unwrap();
    configure(&hb);
    let observed = Arc::new(Mutex::new(Observed::default()));
    {
        let observed = observed.clone();
        let hb_weak = hb.downgrade();
        hb.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer()
                    && let Some(Ok(tc)) = framemeta::timecode_of(buffer, None)
                {
                    let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    let index = {
                        let mut o = observed.lock().unwrap();
                        let base = *o.base.get_or_insert(tc.frame_index());
                        o.encoded.push((tc.frame_index() - base, key));
                        tc.frame_index() - base
                    };
                    if let Some(hb) = hb_weak.upgrade() {
                        on_frame(&hb, index);
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }
    let appsink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    {
        let observed = observed.clone();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let index = framemeta::timecode_of(buffer, None)
                        .and_then(Result::ok)
                        .map_or(-1, |tc| tc.frame_index());
                    observed.lock().unwrap().decoded.push(index);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                observed
                    .lock()
                    .unwrap()
                    .errors
                    .push(format!("{}: {:?}", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name().starts_with("handover-")
                {
                    let frame = s
                        .get::<i64>("frame")
                        .or_else(|_| s.get::<i64>("updated-first-frame"))
                        .unwrap_or(-1);
                    let reason = s.get::<String>("reason").unwrap_or_default();
                    observed
                        .lock()
                        .unwrap()
                        .messages
                        .push((s.name().to_string(), frame, reason));
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let mut observed = std::mem::take(&mut *observed.lock().unwrap());
    let base = observed.base.unwrap_or(0);
    for d in &mut observed.decoded {
        *d -= base;
    }
    for m in &mut observed.messages {
        if m.1 >= 0 {
            m.1 -= base;
        }
    }
    observed
}

fn check_continuous(observed: &Observed, frames: i64) {
    assert!(observed.errors.is_empty(), "{:?}", observed.errors);
    let indices: Vec<i64> = observed.encoded.iter().map(|e| e.0).collect();
    assert_eq!(
        indices,
        (0..frames).collect::<Vec<_>>(),
        "every frame once, in order"
    );
    assert_eq!(
        observed.decoded,
        (0..frames).collect::<Vec<_>>(),
        "every frame decoded"
    );
}

#[test]
fn one_handover_switches_exactly_at_the_negotiated_keyframe() {
    let observed = run(
        150,
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=400 key-int-max=50",
        |hb| {
            hb.set_property("handover-delay", 400_000_000u64);
            hb.set_property("handover-alignment", 5u32);
        },
        |hb, index| {
            if index == 20 {
                let ok: bool = hb.emit_by_name(
                    "update-encoder",
                    &[&"x264enc tune=zerolatency speed-preset=superfast bitrate=800 key-int-max=50"],
                );
                assert!(ok);
            }
        },
    );
    check_continuous(&observed, 150);
    let names: Vec<&str> = observed.messages.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "handover-requested",
            "handover-negotiated",
            "handover-complete"
        ],
        "{:?}",
        observed.messages
    );
    let negotiated = observed.messages[1].1;
    assert_eq!(negotiated % 5, 0);
    assert!(negotiated >= 20 + 10, "after the delay: {negotiated}");
    assert_eq!(
        observed.messages[2].1, negotiated,
        "complete at the negotiated frame"
    );
    assert!(
        observed.encoded[negotiated as usize].1,
        "keyframe at the handover frame"
    );
}
