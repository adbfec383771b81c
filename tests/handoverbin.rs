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
                    let reason = s
                        .get::<String>("reason")
                        .or_else(|_| s.get::<String>("timecode"))
                        .unwrap_or_default();
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

const X264_SETTINGS: [&str; 2] = [
    "x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=100",
    "x264enc tune=zerolatency speed-preset=superfast bitrate=600 key-int-max=100 ! h264parse",
];

#[test]
fn fifty_consecutive_live_handovers_are_seamless() {
    // One live run; a new handover is requested as soon as the previous one completed,
    // alternating two x264enc settings, and once openh264enc.
    let frames = 1400;
    let requested = Arc::new(Mutex::new(0u32));
    let observed = {
        let requested = requested.clone();
        run(
            frames,
            X264_SETTINGS[0],
            |hb| {
                hb.set_property("handover-delay", 0u64);
                hb.set_property("lead-frames", 6u32);
            },
            move |hb, index| {
                let mut n = requested.lock().unwrap();
                let phase = hb.property::<String>("phase");
                let idle = matches!(phase.as_str(), "idle" | "complete" | "failed");
                if *n < 50 && index >= 5 && idle {
                    let description = if *n == 25 {
                        "openh264enc ! h264parse"
                    } else {
                        X264_SETTINGS[(*n as usize + 1) % 2]
                    };
                    let ok: bool = hb.emit_by_name("update-encoder", &[&description]);
                    assert!(ok, "{}", hb.property::<String>("last-refusal"));
                    *n += 1;
                }
            },
        )
    };
    check_continuous(&observed, i64::from(frames));
    let complete: Vec<i64> = observed
        .messages
        .iter()
        .filter(|m| m.0 == "handover-complete")
        .map(|m| m.1)
        .collect();
    let failed: Vec<&(String, i64, String)> = observed
        .messages
        .iter()
        .filter(|m| m.0 == "handover-failed")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(complete.len(), 50, "{:?}", observed.messages);
    // Each handover: requested, negotiated, complete, in that order, and the first frame of the
    // updated branch is a keyframe at the negotiated frame.
    let mut last_negotiated = None;
    for m in &observed.messages {
        match m.0.as_str() {
            "handover-negotiated" => last_negotiated = Some(m.1),
            "handover-complete" => {
                assert_eq!(
                    Some(m.1),
                    last_negotiated,
                    "complete at the negotiated frame"
                );
                assert!(observed.encoded[m.1 as usize].1, "keyframe at {}", m.1);
                last_negotiated = None;
            }
            _ => {}
        }
    }
}

/// Runs one handover to `description` (or to an application's element) that is expected to
/// fail with `reason`; the output must carry on from the target with nothing lost.
fn failing_handover(
    update: impl Fn(&gst::Element) -> bool + Send + Sync + 'static,
    configure: impl FnOnce(&gst::Element),
    reason: &str,
) {
    let observed = run(150, X264_SETTINGS[0], configure, move |hb, index| {
        if index == 10 {
            let ok = update(hb);
            assert!(ok, "refused: {}", hb.property::<String>("last-refusal"));
        }
    });
    check_continuous(&observed, 150);
    let names: Vec<&str> = observed.messages.iter().map(|m| m.0.as_str()).collect();
    assert!(
        !names.contains(&"handover-complete"),
        "{:?}",
        observed.messages
    );
    let failed = observed
        .messages
        .iter()
        .find(|m| m.0 == "handover-failed")
        .unwrap_or_else(|| panic!("no handover-failed: {:?}", observed.messages));
    assert_eq!(failed.2, reason, "{:?}", observed.messages);
}

#[test]
fn updated_branch_that_cannot_negotiate_caps_is_refused_and_the_output_goes_on() {
    // An encoder that cannot take the input (High 10 from 8-bit I420), and one whose output is
    // another picture size than the output's: both fail caps negotiation when the branch is
    // linked, so update-encoder returns FALSE with the reason and nothing else happens.
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let observed = {
        let refusals = refusals.clone();
        run(
            60,
            X264_SETTINGS[0],
            |_| {},
            move |hb, index| {
                let description = match index {
                    10 => {
                        "x264enc tune=zerolatency ! capsfilter caps=video/x-h264,profile=(string)high-10"
                    }
                    20 => "videoscale ! video/x-raw,width=160,height=90 ! x264enc tune=zerolatency",
                    _ => return,
                };
                let ok: bool = hb.emit_by_name("update-encoder", &[&description]);
                refusals
                    .lock()
                    .unwrap()
                    .push((ok, hb.property::<String>("last-refusal")));
            },
        )
    };
    check_continuous(&observed, 60);
    let refusals = refusals.lock().unwrap();
    assert_eq!(refusals.len(), 2);
    for (ok, reason) in refusals.iter() {
        assert!(!ok);
        assert!(reason.contains("caps"), "{reason}");
    }
    assert_eq!(observed.messages, []);
}

#[test]
fn updated_branch_erroring_leaves_the_output_alone() {
    failing_handover(
        |hb| {
            hb.emit_by_name(
                "update-encoder",
                &[&"x264enc tune=zerolatency ! identity error-after=3"],
            )
        },
        |hb| hb.set_property("handover-delay", 1_000_000_000u64),
        "branch-error",
    );
}

#[test]
fn updated_branch_stalling_leaves_the_output_alone() {
    failing_handover(
        |hb| {
            hb.emit_by_name(
                "update-encoder",
                &[&"identity drop-probability=1.0 ! x264enc tune=zerolatency"],
            )
        },
        |hb| hb.set_property("ready-timeout", 1_000_000_000u64),
        "not-ready",
    );
}

#[test]
fn updated_encoder_ignoring_force_key_unit_leaves_the_output_alone() {
    failing_handover(
        |hb| {
            // An application's encoder that swallows force-key-unit requests.
            let bin = gst::parse::bin_from_description(
                "x264enc tune=zerolatency key-int-max=1000 name=deaf",
                true,
            )
            .unwrap();
            bin.static_pad("src").unwrap().add_probe(
                gst::PadProbeType::EVENT_UPSTREAM,
                |_, info| match &info.data {
                    // Handled (not Drop, which trips a GStreamer-CRITICAL in 1.22 for events):
                    // the event stops here, as if the encoder had ignored it.
                    Some(gst::PadProbeData::Event(e)) if gst_video::ForceKeyUnitEvent::is(e) => {
                        gst::PadProbeReturn::Handled
                    }
                    _ => gst::PadProbeReturn::Ok,
                },
            );
            hb.emit_by_name("update-encoder-element", &[&bin.upcast::<gst::Element>()])
        },
        |_| {},
        "keyframe-never-produced",
    );
}

#[test]
fn a_second_request_during_a_handover_is_refused() {
    let results = Arc::new(Mutex::new(Vec::new()));
    let observed = {
        let results = results.clone();
        run(
            80,
            X264_SETTINGS[0],
            |hb| hb.set_property("handover-delay", 1_000_000_000u64),
            move |hb, index| {
                if index == 5 || index == 6 {
                    let ok: bool = hb.emit_by_name("update-encoder", &[&X264_SETTINGS[1]]);
                    results.lock().unwrap().push(ok);
                }
                if index == 7 {
                    let ok: bool = hb.emit_by_name("update-encoder", &[&"no-such-element"]);
                    results.lock().unwrap().push(ok);
                }
            },
        )
    };
    assert_eq!(*results.lock().unwrap(), [true, false, false]);
    // Refusals are answers to the caller, not handover failures.
    assert!(
        !observed.messages.iter().any(|m| m.0 == "handover-failed"),
        "{:?}",
        observed.messages
    );
    check_continuous(&observed, 80);
}

#[test]
fn keep_target_leaves_the_replaced_encoder_as_a_standby() {
    let branches = Arc::new(Mutex::new(Vec::new()));
    let observed = {
        let branches = branches.clone();
        run(
            100,
            X264_SETTINGS[0],
            |hb| {
                hb.set_property("keep-target", true);
                hb.set_property("handover-delay", 0u64);
            },
            move |hb, index| {
                if index == 5 {
                    let ok: bool = hb.emit_by_name("update-encoder", &[&X264_SETTINGS[1]]);
                    assert!(ok);
                }
                if index == 90 {
                    let stats = hb.property::<gst::Structure>("stats");
                    branches.lock().unwrap().push((
                        stats.get::<u32>("branches").unwrap(),
                        stats.get::<u64>("handovers-completed").unwrap(),
                    ));
                }
            },
        )
    };
    check_continuous(&observed, 100);
    // The updated encoder is on air and the replaced one still runs beside it.
    assert_eq!(*branches.lock().unwrap(), [(2, 1)]);
}
