// SPDX-License-Identifier: MPL-2.0
//! `synchronizedswitch` as a user sees it: timecodes in and out, frames counted, switch
//! messages, stats; gst-check harnesses with synthetic timecoded buffers, and real pipelines
//! with x264enc branches decoded frame by frame.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use gst::prelude::*;
use gst_check::Harness;
use gst_video::{ValidVideoTimeCode, VideoTimeCode, VideoTimeCodeFlags, VideoTimeCodeMeta};

use gstlockstep::framemeta;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstlockstep::plugin_register_static().expect("lockstep registers");
    });
}

const FPS: i32 = 25;

fn caps(width: i32) -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "byte-stream")
        .field("alignment", "au")
        .field("width", width)
        .field("height", 180)
        .field("framerate", gst::Fraction::new(FPS, 1))
        .build()
}

/// Frame `n` of the day at 25 fps: a one-byte payload naming its branch, a timecode meta,
/// PTS = n frames.
fn frame(branch: u8, n: i64, keyframe: bool) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_slice([branch]);
    {
        let b = buffer.get_mut().unwrap();
        let n_u = u32::try_from(n).unwrap();
        let fps = u32::try_from(FPS).unwrap();
        let tc = VideoTimeCode::new(
            gst::Fraction::new(FPS, 1),
            None,
            VideoTimeCodeFlags::empty(),
            n_u / fps / 3600 % 24,
            n_u / fps / 60 % 60,
            n_u / fps % 60,
            n_u % fps,
            0,
        );
        VideoTimeCodeMeta::add(b, &ValidVideoTimeCode::try_from(tc).unwrap());
        b.set_pts(gst::ClockTime::from_mseconds(1000 / FPS as u64 * n as u64));
        b.set_duration(gst::ClockTime::from_mseconds(1000 / FPS as u64));
        if !keyframe {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buffer
}

/// A switch with `n` sink harnesses; the first one also owns the src pad.
struct Switch {
    element: gst::Element,
    inputs: Vec<Harness>,
    bus: gst::Bus,
}

impl Switch {
    fn new(n: usize, configure: impl FnOnce(&gst::Element)) -> Switch {
        init();
        let element = gst::ElementFactory::make("synchronizedswitch")
            .build()
            .unwrap();
        configure(&element);
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut inputs = Vec::new();
        for i in 0..n {
            let src = if i == 0 { Some("src") } else { None };
            let mut h = Harness::with_element(&element, Some(&format!("sink_{i}")), src);
            h.set_src_caps(caps(320));
            inputs.push(h);
        }
        Switch {
            element,
            inputs,
            bus,
        }
    }

    fn pad(&self, i: usize) -> gst::Pad {
        self.element.static_pad(&format!("sink_{i}")).unwrap()
    }

    fn push(&mut self, branch: usize, n: i64, keyframe: bool) {
        let flow = self.inputs[branch].push(frame(branch as u8, n, keyframe));
        assert!(flow.is_ok(), "push of frame {n} on sink_{branch}: {flow:?}");
    }

    /// Every output so far: (branch, frame index, keyframe).
    fn outputs(&mut self) -> Vec<(u8, i64, bool)> {
        let mut out = Vec::new();
        while let Some(buffer) = self.inputs[0].try_pull() {
            let branch = buffer.map_readable().unwrap()[0];
            let tc = framemeta::timecode_of(&buffer, None).unwrap().unwrap();
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            out.push((branch, tc.frame_index(), keyframe));
        }
        out
    }

    fn stats(&self) -> gst::Structure {
        self.element.property::<gst::Structure>("stats")
    }

    /// `synchronizedswitch-*` element messages posted so far, by name.
    fn messages(&self, name: &str) -> Vec<gst::Structure> {
        let bus = &self.bus;
        let mut found = Vec::new();
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Element(e) = msg.view()
                && let Some(s) = e.structure()
                && s.name() == name
            {
                found.push(s.to_owned());
            }
        }
        found
    }
}

fn assert_consecutive(out: &[(u8, i64, bool)], first: i64, last: i64) {
    let indices: Vec<i64> = out.iter().map(|o| o.1).collect();
    let expected: Vec<i64> = (first..=last).collect();
    assert_eq!(indices, expected, "every frame exactly once, in order");
}

/// Runs both branches in lockstep over `range`; branch 1 has keyframes every `gop_b`.
fn lockstep(s: &mut Switch, range: std::ops::Range<i64>, gop_a: i64, gop_b: i64) {
    for n in range {
        s.push(0, n, n % gop_a == 0);
        s.push(1, n, n % gop_b == 0);
    }
}

#[test]
fn manual_switch_goes_at_the_next_keyframe_of_the_new_branch() {
    let mut s = Switch::new(2, |_| {});
    lockstep(&mut s, 0..13, 50, 10);
    s.element.set_property("active-pad", s.pad(1));
    lockstep(&mut s, 13..40, 50, 10);
    let out = s.outputs();
    assert_consecutive(&out, 0, 39);
    assert!(out.iter().all(|o| o.0 == if o.1 < 20 { 0 } else { 1 }));
    assert!(out[20].2, "the first frame after the switch is a keyframe");
    let switched = s.messages("synchronizedswitch-switched");
    let manual = switched
        .iter()
        .find(|m| m.get::<&str>("reason").unwrap() == "manual")
        .expect("a switched message");
    assert_eq!(manual.get::<&str>("old-pad").unwrap(), "sink_0");
    assert_eq!(manual.get::<&str>("new-pad").unwrap(), "sink_1");
    assert_eq!(manual.get::<i64>("frame").unwrap(), 20);
    assert_eq!(manual.get::<&str>("timecode").unwrap(), "00:00:00:20");
    assert_eq!(
        manual
            .get::<Option<gst::ClockTime>>("running-time")
            .unwrap(),
        Some(gst::ClockTime::from_mseconds(800))
    );
    assert_eq!(s.element.property::<gst::Pad>("active-pad"), s.pad(1));
    let stats = s.stats();
    assert_eq!(stats.get::<u64>("frames-out").unwrap(), 40);
    assert_eq!(stats.get::<u64>("switches-manual").unwrap(), 1);
    assert_eq!(stats.get::<u64>("repeats").unwrap(), 0);
    assert_eq!(stats.get::<u64>("gaps").unwrap(), 0);
}

#[test]
fn switch_at_timecode_and_frame_happen_exactly_there() {
    let mut s = Switch::new(2, |_| {});
    lockstep(&mut s, 0..5, 5, 5);
    let ok: bool = s
        .element
        .emit_by_name("switch-at", &[&s.pad(1), &"00:00:00:15"]);
    assert!(ok);
    lockstep(&mut s, 5..25, 5, 5);
    let ok: bool = s
        .element
        .emit_by_name("switch-at-frame", &[&s.pad(0), &30i64]);
    assert!(ok);
    lockstep(&mut s, 25..40, 5, 5);
    let out = s.outputs();
    assert_consecutive(&out, 0, 39);
    for (branch, n, _) in &out {
        let expected = if (15..30).contains(n) { 1 } else { 0 };
        assert_eq!(*branch, expected, "frame {n}");
    }
    let reasons: Vec<String> = s
        .messages("synchronizedswitch-switched")
        .iter()
        .map(|m| m.get::<String>("reason").unwrap())
        .collect();
    assert_eq!(reasons, ["initial", "scheduled", "scheduled"]);
}

#[test]
fn switch_requests_that_cannot_be_honoured_return_false_with_a_reason() {
    let mut s = Switch::new(2, |_| {});
    lockstep(&mut s, 0..10, 5, 5);
    // In the past.
    let ok: bool = s
        .element
        .emit_by_name("switch-at-frame", &[&s.pad(1), &3i64]);
    assert!(!ok);
    assert!(
        s.element
            .property::<String>("last-rejection")
            .contains("in the past"),
        "{}",
        s.element.property::<String>("last-rejection")
    );
    // Not a timecode.
    let ok: bool = s.element.emit_by_name("switch-at", &[&s.pad(1), &"25:99"]);
    assert!(!ok);
    // Branch 1 runs ahead: its frame 12 is known and is not a keyframe.
    s.push(1, 10, true);
    s.push(1, 11, false);
    s.push(1, 12, false);
    let ok: bool = s
        .element
        .emit_by_name("switch-at-frame", &[&s.pad(1), &12i64]);
    assert!(!ok);
    assert!(
        s.element
            .property::<String>("last-rejection")
            .contains("not a keyframe")
    );
    // A pad of another element.
    let foreign = gst::Pad::new(gst::PadDirection::Sink);
    let ok: bool = s
        .element
        .emit_by_name("switch-at-frame", &[&foreign, &20i64]);
    assert!(!ok);
    // An unhealthy pad (EOS).
    s.inputs[1].push_event(gst::event::Eos::new());
    let ok: bool = s
        .element
        .emit_by_name("switch-at-frame", &[&s.pad(1), &20i64]);
    assert!(!ok);
    assert!(!s.pad(1).property::<bool>("healthy"));
    assert_eq!(s.messages("synchronizedswitch-switch-rejected").len(), 5);
}

/// A deterministic pseudo-random sequence (no dependency, reproducible failures).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn switch_storm_every_timecode_exactly_once_in_order() {
    let mut s = Switch::new(3, |_| {});
    let mut rng = Lcg(7);
    let mut requests = 0;
    let total = 3000;
    for n in 0..total {
        for branch in 0..3 {
            // Independent GOPs per branch: 1 frame in 4 is a keyframe, at random.
            s.push(branch, n, n == 0 || rng.next(4) == 0);
        }
        if requests < 1000 && rng.next(3) == 0 {
            requests += 1;
            let pad = s.pad(rng.next(3) as usize);
            if rng.next(2) == 0 {
                s.element.set_property("active-pad", pad);
            } else {
                let at = n + 1 + rng.next(10) as i64;
                let _: bool = s.element.emit_by_name("switch-at-frame", &[&pad, &at]);
            }
        }
    }
    assert_eq!(requests, 1000);
    let out = s.outputs();
    assert_consecutive(&out, 0, total - 1);
    // Every change of branch lands on a keyframe.
    for pair in out.windows(2) {
        if pair[0].0 != pair[1].0 {
            assert!(pair[1].2, "switch onto a non-keyframe at {}", pair[1].1);
        }
    }
    let stats = s.stats();
    assert_eq!(stats.get::<u64>("frames-out").unwrap(), total as u64);
    assert_eq!(stats.get::<u64>("repeats").unwrap(), 0);
    assert_eq!(stats.get::<u64>("gaps").unwrap(), 0);
    let switches = stats.get::<u64>("switches").unwrap();
    assert!(switches > 100, "the storm switched {switches} times");
}

#[test]
fn failover_on_stall_loses_nothing_when_the_backup_holds_the_frames() {
    let mut s = Switch::new(2, |e| e.set_property("timeout", 200_000_000u64));
    lockstep(&mut s, 0..20, 10, 10);
    // Branch 0 stalls; branch 1 goes on.
    for n in 20..30 {
        s.push(1, n, n % 10 == 0);
    }
    std::thread::sleep(Duration::from_millis(600));
    for n in 30..35 {
        s.push(1, n, n % 10 == 0);
    }
    assert!(!s.pad(0).property::<bool>("healthy"));
    assert!(s.pad(1).property::<bool>("healthy"));
    let out = s.outputs();
    assert_consecutive(&out, 0, 34);
    assert!(out[20..].iter().all(|o| o.0 == 1));
    let reasons: Vec<String> = s
        .messages("synchronizedswitch-switched")
        .iter()
        .map(|m| m.get::<String>("reason").unwrap())
        .collect();
    assert_eq!(reasons, ["initial", "timeout"]);
}

#[test]
fn failover_on_eos_and_on_a_timecode_jump() {
    let mut s = Switch::new(3, |_| {});
    for n in 0..10 {
        for b in 0..3 {
            s.push(b, n, true);
        }
    }
    s.inputs[0].push_event(gst::event::Eos::new());
    for n in 10..20 {
        s.push(1, n, true);
        s.push(2, n, true);
    }
    // Branch 1 jumps 100 frames ahead; branch 2 still holds the right frames.
    for n in 20..30 {
        s.push(1, n + 100, true);
        s.push(2, n, true);
    }
    let out = s.outputs();
    assert_consecutive(&out, 0, 29);
    let reasons: Vec<String> = s
        .messages("synchronizedswitch-switched")
        .iter()
        .map(|m| m.get::<String>("reason").unwrap())
        .collect();
    assert_eq!(reasons, ["initial", "eos", "discontinuity"]);
    assert!(out[10..20].iter().all(|o| o.0 == 1));
    assert!(out[20..].iter().all(|o| o.0 == 2));
}

#[test]
fn every_branch_losing_frames_is_a_reported_gap() {
    let mut s = Switch::new(2, |_| {});
    lockstep(&mut s, 0..10, 5, 5);
    lockstep(&mut s, 15..20, 5, 5);
    let out = s.outputs();
    let indices: Vec<i64> = out.iter().map(|o| o.1).collect();
    assert_eq!(indices, (0..10).chain(15..20).collect::<Vec<_>>());
    let gaps = s.messages("synchronizedswitch-gap");
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].get::<i64>("from-frame").unwrap(), 10);
    assert_eq!(gaps[0].get::<i64>("frames").unwrap(), 5);
    assert_eq!(s.stats().get::<u64>("gap-frames").unwrap(), 5);
}

#[test]
fn a_late_joiner_becomes_eligible_once_its_timecodes_meet_the_output() {
    let mut s = Switch::new(1, |_| {});
    for n in 0..50 {
        s.push(0, n, n % 10 == 0);
    }
    // A second branch joins mid-stream, a little behind.
    let mut late = Harness::with_element(&s.element, Some("sink_1"), None);
    late.set_src_caps(caps(320));
    s.inputs.push(late);
    assert!(!s.pad(1).property::<bool>("healthy"));
    for n in 45..50 {
        s.push(1, n, n % 10 == 0);
    }
    assert!(s.pad(1).property::<bool>("healthy"));
    s.element.set_property("active-pad", s.pad(1));
    lockstep(&mut s, 50..70, 10, 10);
    let out = s.outputs();
    assert_consecutive(&out, 0, 69);
    assert!(out[..50].iter().all(|o| o.0 == 0));
    assert!(out[50..].iter().all(|o| o.0 == 1));
    // The joiner's frames behind the output were dropped, not output twice.
    assert!(s.stats().get::<u64>("frames-dropped-inactive").unwrap() >= 5);
}

#[test]
fn mismatched_caps_take_that_branch_out_with_a_clear_warning() {
    let mut s = Switch::new(2, |_| {});
    s.inputs[1].set_src_caps(caps(640));
    lockstep(&mut s, 0..20, 5, 5);
    let out = s.outputs();
    assert_consecutive(&out, 0, 19);
    assert!(!s.pad(1).property::<bool>("healthy"));
    assert!(s.pad(0).property::<bool>("healthy"));
    s.element.set_property("active-pad", s.pad(1));
    let rejection = s.element.property::<String>("last-rejection");
    assert!(
        rejection.contains("width 640 instead of 320"),
        "{rejection}"
    );
    let bus = s.bus.clone();
    let messages: Vec<gst::Message> = std::iter::from_fn(|| bus.pop()).collect();
    let warning = messages
        .iter()
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .expect("a warning");
    assert!(
        warning.contains("sink_1") && warning.contains("width"),
        "{warning}"
    );
    // Applications match the typed element message, not the warning's text.
    let refused = messages
        .iter()
        .find_map(|m| match m.view() {
            gst::MessageView::Element(e) => e
                .structure()
                .filter(|s| s.name() == "synchronizedswitch-pad-refused")
                .map(|s| s.to_owned()),
            _ => None,
        })
        .expect("a synchronizedswitch-pad-refused message");
    assert_eq!(refused.get::<&str>("pad").unwrap(), "sink_1");
    assert_eq!(refused.get::<&str>("reason").unwrap(), "caps-mismatch");
    assert!(refused.get::<&str>("message").unwrap().contains("width"));
    assert_eq!(s.stats().get::<u64>("frames-mismatched").unwrap(), 20);
    // Matching caps again bring it back.
    s.inputs[1].set_src_caps(caps(320));
    lockstep(&mut s, 20..30, 5, 5);
    assert!(s.pad(1).property::<bool>("healthy"));
}

/// Pad properties can be set by name from a launch line, as with fallbackswitch:
/// `sw.sink_1::priority=0` (GstChildProxy), so sink_1 is preferred from the start.
#[test]
fn pad_properties_are_set_from_a_launch_line() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=10 ! video/x-raw,format=I420,width=64,height=64,framerate=25/1 \
           ! timecodestamper set-internal-timecode=10:00:00:00 ! tee name=t \
         t. ! queue ! sw.sink_0 \
         t. ! queue ! sw.sink_1 \
         synchronizedswitch name=sw sink_0::priority=5 sink_1::priority=0 ! fakesink",
    )
    .expect("the launch line parses")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sw = pipeline.by_name("sw").unwrap();
    let proxy = sw
        .dynamic_cast_ref::<gst::ChildProxy>()
        .expect("a child proxy");
    assert_eq!(proxy.children_count(), 2);
    assert_eq!(proxy.child_property::<u32>("sink_1::priority"), 0);
    assert_eq!(proxy.child_property::<u32>("sink_0::priority"), 5);
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut initial = None;
    let mut eos = false;
    for message in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        match message.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "synchronizedswitch-switched"
                    && initial.is_none()
                {
                    initial = Some(s.get::<String>("new-pad").unwrap());
                }
            }
            gst::MessageView::Eos(_) => {
                eos = true;
                break;
            }
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(eos, "the run ended with EOS");
    assert_eq!(
        initial.as_deref(),
        Some("sink_1"),
        "the preferred pad goes first"
    );
}

#[test]
fn b_frame_branches_switch_only_at_cuts() {
    // Branch 0 reorders as x264 does with key-int-max=5 (I0 P4 B2 B1 B3 I5 …, DTS ≠ PTS);
    // branch 1 has no reordering and a keyframe at every frame.
    let mut s = Switch::new(2, |_| {});
    let order = |gop: i64| [gop, gop + 4, gop + 2, gop + 1, gop + 3];
    let push_reordered = |s: &mut Switch, gop: i64| {
        for (slot, n) in order(gop).into_iter().enumerate() {
            let mut buffer = frame(0, n, n % 5 == 0);
            buffer
                .get_mut()
                .unwrap()
                .set_dts(gst::ClockTime::from_mseconds(
                    40 * (gop as u64 + slot as u64),
                ));
            assert!(s.inputs[0].push(buffer).is_ok());
        }
    };
    push_reordered(&mut s, 0);
    for n in 0..5 {
        s.push(1, n, true);
    }
    // Ask for branch 1 while branch 0 is in the middle of a reordered run.
    s.element.set_property("active-pad", s.pad(1));
    push_reordered(&mut s, 5);
    for n in 5..10 {
        s.push(1, n, true);
    }
    let out = s.outputs();
    // Output order is decode order of branch 0 up to its cut, then branch 1.
    let from_0: Vec<i64> = out.iter().filter(|o| o.0 == 0).map(|o| o.1).collect();
    let from_1: Vec<i64> = out.iter().filter(|o| o.0 == 1).map(|o| o.1).collect();
    let mut presented = from_0.clone();
    presented.sort();
    assert_eq!(presented, (0..5).collect::<Vec<_>>(), "{out:?}");
    assert_eq!(from_1, (5..10).collect::<Vec<_>>());
}

#[test]
fn raw_video_switches_on_any_frame() {
    init();
    let element = gst::ElementFactory::make("synchronizedswitch")
        .build()
        .unwrap();
    let raw = gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", 64)
        .field("height", 64)
        .field("framerate", gst::Fraction::new(FPS, 1))
        .build();
    let mut h0 = Harness::with_element(&element, Some("sink_0"), Some("src"));
    let mut h1 = Harness::with_element(&element, Some("sink_1"), None);
    h0.set_src_caps(raw.clone());
    h1.set_src_caps(raw);
    for n in 0..10 {
        // Raw frames carry DELTA_UNIT here on purpose: raw mode ignores it.
        h0.push(frame(0, n, false)).unwrap();
        h1.push(frame(1, n, false)).unwrap();
        if n == 3 {
            element.set_property("active-pad", element.static_pad("sink_1").unwrap());
        }
    }
    let branches: Vec<u8> = std::iter::from_fn(|| h0.try_pull())
        .map(|b| b.map_readable().unwrap()[0])
        .collect();
    assert_eq!(branches, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
}

// ---------------------------------------------------------------------------------------------
// Real encoders.

#[derive(Default)]
struct Observed {
    /// The index of the first frame (timecodestamper's daily jam is today): indices below are
    /// relative to it.
    base: Option<i64>,
    /// Timecode frame index of every encoded buffer leaving the switch, and its keyframe flag.
    encoded: Vec<(i64, bool)>,
    /// Encoded buffers that carry an SPS and a PPS in band.
    with_parameter_sets: Vec<i64>,
    /// (PTS, DTS) of every encoded buffer leaving the switch, in ns.
    timestamps: Vec<(Option<u64>, Option<u64>)>,
    /// Timecode frame index of every decoded frame.
    decoded: Vec<i64>,
    switches: Vec<(String, i64)>,
    errors: Vec<String>,
    /// The pipeline reached EOS (a run that hangs fails instead of passing after a timeout).
    eos: bool,
}

/// videotestsrc → timecodestamper → tee → two x264enc branches (different settings) →
/// synchronizedswitch → h264parse → avdec_h264 → appsink. `control` runs on every encoded
/// output frame (index) with the pipeline, to request switches or break branches.
fn encoded_pipeline(
    frames: u32,
    live: bool,
    window: u32,
    queue: &str,
    branch_a: &str,
    branch_b: &str,
    control: impl Fn(&gst::Pipeline, i64) + Send + Sync + 'static,
) -> Observed {
    encoded_pipeline_with(
        "h264",
        frames,
        live,
        window,
        queue,
        branch_a,
        branch_b,
        |_| {},
        control,
    )
}

/// [`encoded_pipeline`], with `setup` applied to the pipeline before it starts.
#[allow(clippy::too_many_arguments)]
fn encoded_pipeline_with(
    codec: &'static str,
    frames: u32,
    live: bool,
    window: u32,
    queue: &str,
    branch_a: &str,
    branch_b: &str,
    setup: impl FnOnce(&gst::Pipeline),
    control: impl Fn(&gst::Pipeline, i64) + Send + Sync + 'static,
) -> Observed {
    init();
    let description = format!(
        "videotestsrc num-buffers={frames} is-live={live} pattern=ball ! video/x-raw,format=I420,width=320,height=180,framerate=25/1 \
         ! timecodestamper ! tee name=t \
         t. ! {queue} ! {branch_a} name=enc_a ! video/x-{codec},stream-format=byte-stream,alignment=au ! identity name=break_a ! valve name=cut_a ! sw.sink_0 \
         t. ! {queue} ! {branch_b} name=enc_b ! video/x-{codec},stream-format=byte-stream,alignment=au ! identity name=break_b ! valve name=cut_b ! sw.sink_1 \
         synchronizedswitch name=sw timeout=300000000 max-window={window} ! {codec}parse ! avdec_{codec} ! appsink name=out sync=false"
    );
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    setup(&pipeline);
    let observed = Arc::new(Mutex::new(Observed::default()));
    let switch = pipeline.by_name("sw").unwrap();
    let weak = pipeline.downgrade();
    let control = Arc::new(control);
    {
        let observed = observed.clone();
        switch
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer()
                    && let Some(Ok(tc)) = framemeta::timecode_of(buffer, None)
                {
                    let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    let index = {
                        let mut observed = observed.lock().unwrap();
                        let base = *observed.base.get_or_insert(tc.frame_index());
                        let index = tc.frame_index() - base;
                        observed.encoded.push((index, key));
                        observed.timestamps.push((
                            buffer.pts().map(gst::ClockTime::nseconds),
                            buffer.dts().map(gst::ClockTime::nseconds),
                        ));
                        if carries_parameter_sets(codec, buffer) {
                            observed.with_parameter_sets.push(index);
                        }
                        index
                    };
                    if let Some(pipeline) = weak.upgrade() {
                        control(&pipeline, index);
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
                    let mut observed = observed.lock().unwrap();
                    let base = observed.base.unwrap_or(0);
                    observed.decoded.push(index - base);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => {
                observed.lock().unwrap().eos = true;
                break;
            }
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
                    && s.name() == "synchronizedswitch-switched"
                {
                    observed.lock().unwrap().switches.push((
                        s.get::<String>("reason").unwrap(),
                        s.get::<i64>("frame").unwrap(),
                    ));
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let mut observed = std::mem::take(&mut *observed.lock().unwrap());
    // Messages may be read before the first frame set the base: made relative here.
    let base = observed.base.unwrap_or(0);
    for switch in &mut observed.switches {
        switch.1 -= base;
    }
    observed
}

/// A byte-stream access unit with every parameter set a decoder needs: SPS (7) and PPS (8)
/// in H.264; VPS (32), SPS (33) and PPS (34) in H.265.
fn carries_parameter_sets(codec: &str, buffer: &gst::BufferRef) -> bool {
    use gstlockstep::bitstream::NalFraming;
    use gstlockstep::bitstream::nal::NalUnits;
    let map = buffer.map_readable().unwrap();
    let types: Vec<u8> = NalUnits::new(&map, NalFraming::AnnexB)
        .filter_map(Result::ok)
        .filter_map(|nal| nal.first().map(|&header| nal_type(codec, header)))
        .collect();
    let needed: &[u8] = if codec == "h265" {
        &[32, 33, 34]
    } else {
        &[7, 8]
    };
    needed.iter().all(|t| types.contains(t))
}

fn nal_type(codec: &str, header: u8) -> u8 {
    if codec == "h265" {
        (header >> 1) & 0x3f
    } else {
        header & 0x1f
    }
}

/// DTS never decreases and never passes PTS on the output, across every switch; and every
/// keyframe the output cut at (a switch frame) leads its DTS by the same amount, the output's
/// reorder depth, so the decode timeline runs on continuously whichever branch is on air.
fn assert_decode_timestamps_consistent(observed: &Observed) {
    let mut last_dts: Option<u64> = None;
    for (i, (pts, dts)) in observed.timestamps.iter().enumerate() {
        let index = observed.encoded[i].0;
        let (Some(pts), Some(dts)) = (pts, dts) else {
            continue;
        };
        assert!(dts <= pts, "frame {index}: DTS {dts} after PTS {pts}");
        if let Some(last) = last_dts {
            assert!(
                *dts >= last,
                "frame {index}: DTS {dts} goes back from {last} (switches {:?})",
                observed.switches
            );
        }
        last_dts = Some(*dts);
    }
    let leads: Vec<(i64, u64)> = observed
        .switches
        .iter()
        .filter(|(reason, _)| reason != "initial")
        .filter_map(|(_, at)| {
            let i = observed.encoded.iter().position(|e| e.0 == *at)?;
            let (pts, dts) = observed.timestamps[i];
            Some((*at, pts? - dts?))
        })
        .collect();
    assert!(
        leads.windows(2).all(|w| w[0].1 == w[1].1),
        "PTS - DTS of the switch frames: {leads:?}"
    );
}

fn check_encoded_run(observed: &Observed, frames: i64) {
    assert!(observed.errors.is_empty(), "errors: {:?}", observed.errors);
    assert!(observed.eos, "the run ended with EOS");
    let indices: Vec<i64> = observed.encoded.iter().map(|e| e.0).collect();
    let mut sorted = indices.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..frames).collect::<Vec<_>>(),
        "each timecode exactly once"
    );
    let decoded = &observed.decoded;
    assert_eq!(
        decoded,
        &(0..frames).collect::<Vec<_>>(),
        "every frame decoded, once, in presentation order"
    );
    assert_decode_timestamps_consistent(observed);
    for (reason, at) in &observed.switches {
        let key = observed.encoded.iter().find(|e| e.0 == *at).map(|e| e.1);
        assert_eq!(
            key,
            Some(true),
            "the {reason} switch at {at} lands on a keyframe"
        );
        assert!(
            observed.with_parameter_sets.contains(at),
            "the first frame after the {reason} switch at {at} carries its SPS and PPS"
        );
    }
}

// Different settings, as two encoder builds would have; B reorders frames (B-frames). Scene
// cuts are off so that keyframes fall on the GOP grid (a backup keyframe at the failover point
// is what makes a failover lossless).
const X264_A: &str =
    "x264enc speed-preset=ultrafast bitrate=600 key-int-max=25 option-string=scenecut=0";
const X264_B: &str =
    "x264enc speed-preset=superfast bitrate=900 key-int-max=10 bframes=2 option-string=scenecut=0";

#[test]
fn x264_branches_switch_frame_accurately_at_full_speed() {
    // 300 frames as fast as possible; switches both ways, manual and scheduled. B reorders, so
    // leaving B needs one of its cuts (its keyframes, every 10) that is also a keyframe of A
    // (every 25): the request at 170 lands at 200.
    // The faster encoder runs ahead by up to the queue's second plus the other's look-ahead:
    // the window must hold that much.
    let observed = encoded_pipeline(
        300,
        false,
        120,
        "queue",
        X264_A,
        X264_B,
        |pipeline, index| {
            let sw = pipeline.by_name("sw").unwrap();
            let pad = |n: u32| sw.static_pad(&format!("sink_{n}")).unwrap();
            match index {
                37 => sw.set_property("active-pad", pad(1)),
                90 => sw.set_property("active-pad", pad(0)),
                140 => {
                    // Frame 160 = 6 s 10 frames; B has a keyframe there, A is in order.
                    let ok: bool = sw.emit_by_name("switch-at", &[&pad(1), &"00:00:06:10"]);
                    assert!(ok, "{}", sw.property::<String>("last-rejection"));
                }
                170 => {
                    sw.set_property("active-pad", pad(0));
                    assert_eq!(sw.property::<String>("last-rejection"), "");
                }
                _ => {}
            }
        },
    );
    check_encoded_run(&observed, 300);
    let switches: Vec<(&str, i64)> = observed
        .switches
        .iter()
        .map(|s| (s.0.as_str(), s.1))
        .collect();
    assert_eq!(
        switches,
        [
            ("initial", 0),
            ("manual", 40),
            ("manual", 100),
            ("scheduled", 160),
            ("manual", 200),
        ]
    );
}

/// A branch without B-frames and one with two (reorder delays of 0 and 1–2 frames): at every
/// switch, both ways, the output's DTS never goes back nor passes PTS, and the switch frames
/// all lead their DTS by the same delay.
#[test]
fn dts_never_steps_back_at_switches_between_reorder_depths() {
    let observed = encoded_pipeline(
        200,
        false,
        120,
        "queue",
        X264_A,
        X264_B,
        |pipeline, index| {
            let sw = pipeline.by_name("sw").unwrap();
            let pad = |n: u32| sw.static_pad(&format!("sink_{n}")).unwrap();
            if index % 40 == 15 {
                sw.set_property("active-pad", pad(((index / 40) % 2 == 0) as u32));
            }
        },
    );
    assert!(observed.switches.len() >= 4, "{:?}", observed.switches);
    assert!(
        observed.timestamps.iter().all(|(_, dts)| dts.is_some()),
        "x264enc stamps DTS"
    );
    assert_decode_timestamps_consistent(&observed);
    check_encoded_run(&observed, 200);
}

#[test]
fn live_x264_branches_switch_and_fail_over_without_a_glitch() {
    // Live, 25 fps: A (keyframes every 15) and B (every 10), no reordering. A is killed after
    // frame 79: the output fails over to B at 80, B's keyframe, with nothing lost.
    let observed = encoded_pipeline(
        100,
        true,
        32,
        "queue",
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=500 key-int-max=15 option-string=scenecut=0",
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max=10 option-string=scenecut=0",
        |pipeline, index| {
            let sw = pipeline.by_name("sw").unwrap();
            let pad = |n: u32| sw.static_pad(&format!("sink_{n}")).unwrap();
            match index {
                20 => sw.set_property("active-pad", pad(1)),
                60 => sw.set_property("active-pad", pad(0)),
                79 => {
                    let identity = pipeline.by_name("break_a").unwrap();
                    identity.set_property("drop-probability", 1.0f32);
                }
                _ => {}
            }
        },
    );
    check_encoded_run(&observed, 100);
    let switches: Vec<(&str, i64)> = observed
        .switches
        .iter()
        .map(|s| (s.0.as_str(), s.1))
        .collect();
    assert_eq!(
        switches,
        [
            ("initial", 0),
            ("manual", 30),
            ("manual", 75),
            ("timeout", 80)
        ]
    );
}

/// A branch cut by a valve (which swallows its EOS too) fails over, and when the source ends
/// the output still gets EOS: a dead branch does not hold it back. Then the same with a branch
/// that stalls right at the end: EOS comes once its silence reaches `timeout`.
#[test]
fn a_dead_branch_does_not_hold_back_eos() {
    for cut_at in [40, 97] {
        let observed = encoded_pipeline(
            100,
            true,
            32,
            "queue",
            "x264enc tune=zerolatency speed-preset=ultrafast bitrate=500 key-int-max=10 option-string=scenecut=0",
            "x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max=10 option-string=scenecut=0",
            move |pipeline, index| {
                if index == cut_at {
                    let valve = pipeline.by_name("cut_a").unwrap();
                    valve.set_property("drop", true);
                }
            },
        );
        assert!(observed.eos, "cut at {cut_at}: EOS arrives");
        assert!(observed.errors.is_empty(), "{:?}", observed.errors);
        let indices: Vec<i64> = observed.encoded.iter().map(|e| e.0).collect();
        assert_eq!(
            indices.first(),
            Some(&0),
            "cut at {cut_at}: the output starts at the first frame"
        );
        assert!(
            indices.windows(2).all(|w| w[1] > w[0]),
            "cut at {cut_at}: nothing repeated or out of order: {indices:?}"
        );
        let reasons: Vec<&str> = observed.switches.iter().map(|s| s.0.as_str()).collect();
        if cut_at == 40 {
            // B's next keyframe takes over (the frames before it are a reported gap, as the
            // cut came between keyframes); it runs to the end.
            assert_eq!(
                indices.last(),
                Some(&99),
                "cut at {cut_at}: runs to the last frame"
            );
            assert_eq!(reasons, ["initial", "timeout"], "cut at {cut_at}");
        } else {
            // B has no keyframe left before the end: the last frames are a reported gap, and
            // EOS follows once A's silence reaches the timeout.
            assert_eq!(reasons, ["initial"], "cut at {cut_at}");
            assert!(indices.last().is_some_and(|&last| last >= cut_at));
        }
    }
}

/// Removes the SPS and PPS from every access unit after the first one that passes `pad`: an
/// encoder that sends its parameter sets once.
fn send_parameter_sets_once(codec: &'static str, pad: &gst::Pad) {
    use gstlockstep::bitstream::NalFraming;
    use gstlockstep::bitstream::nal::{NalUnits, write_annex_b};
    let seen = std::sync::atomic::AtomicBool::new(false);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        if !seen.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return gst::PadProbeReturn::Ok;
        }
        let stripped = {
            let map = buffer.map_readable().unwrap();
            let kept: Vec<&[u8]> = NalUnits::new(&map, NalFraming::AnnexB)
                .filter_map(Result::ok)
                .filter(|nal| {
                    !matches!(
                        nal.first().map(|&h| nal_type(codec, h)),
                        Some(7 | 8) if codec == "h264"
                    ) && !matches!(
                        nal.first().map(|&h| nal_type(codec, h)),
                        Some(32..=34) if codec == "h265"
                    )
                })
                .collect();
            write_annex_b(&kept)
        };
        let mut out = gst::Buffer::from_mut_slice(stripped);
        buffer
            .copy_into(
                out.get_mut().unwrap(),
                gst::BufferCopyFlags::FLAGS
                    | gst::BufferCopyFlags::TIMESTAMPS
                    | gst::BufferCopyFlags::META,
                ..0,
            )
            .unwrap();
        *buffer = out;
        gst::PadProbeReturn::Ok
    });
}

/// Branches whose encoders send their SPS/PPS only once: every switch frame goes out with the
/// incoming branch's parameter sets in front of it, so the decoder decodes every frame after
/// every switch.
#[test]
fn switch_frames_without_parameter_sets_get_the_branchs_own() {
    for (codec, encoder) in [
        (
            "h264",
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 option-string=scenecut=0",
        ),
        (
            "h265",
            "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=10 option-string=scenecut=0",
        ),
    ] {
        switch_frames_get_parameter_sets(codec, encoder);
    }
}

fn switch_frames_get_parameter_sets(codec: &'static str, encoder: &str) {
    let observed = encoded_pipeline_with(
        codec,
        80,
        true,
        32,
        "queue",
        &format!("{encoder} bitrate=500"),
        &format!("{encoder} bitrate=900"),
        |pipeline| {
            for name in ["break_a", "break_b"] {
                let identity = pipeline.by_name(name).unwrap();
                send_parameter_sets_once(codec, &identity.static_pad("sink").unwrap());
            }
        },
        |pipeline, index| {
            let sw = pipeline.by_name("sw").unwrap();
            let pad = |n: u32| sw.static_pad(&format!("sink_{n}")).unwrap();
            match index {
                15 => sw.set_property("active-pad", pad(1)),
                35 => sw.set_property("active-pad", pad(0)),
                55 => sw.set_property("active-pad", pad(1)),
                _ => {}
            }
        },
    );
    assert_eq!(observed.errors, Vec::<String>::new());
    let reasons: Vec<&str> = observed.switches.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        reasons,
        ["initial", "manual", "manual", "manual"],
        "{codec}"
    );
    // Only the switch frames carry parameter sets (the branches' first frames among them).
    let switch_frames: Vec<i64> = observed.switches.iter().map(|s| s.1).collect();
    assert_eq!(observed.with_parameter_sets, switch_frames, "{codec}");
    check_encoded_run(&observed, 80);
}

#[test]
fn tee_without_queues_does_not_deadlock_at_switches() {
    // One thread pushes through tee into both encoders and the switch, in turn: the switch
    // must never wait for the other branch (input-selector deadlocks here at the first switch,
    // through the RECONFIGURE it sends upstream).
    let observed = encoded_pipeline(
        60,
        false,
        32,
        "identity",
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 option-string=scenecut=0",
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=5 option-string=scenecut=0",
        |pipeline, index| {
            let sw = pipeline.by_name("sw").unwrap();
            let pad = |n: u32| sw.static_pad(&format!("sink_{n}")).unwrap();
            if index % 12 == 3 {
                sw.set_property("active-pad", pad(((index / 12) % 2 == 0) as u32));
            }
        },
    );
    check_encoded_run(&observed, 60);
    assert!(observed.switches.len() >= 5, "{:?}", observed.switches);
}

#[test]
fn auto_switch_back_returns_to_the_preferred_branch_after_the_delay() {
    let mut s = Switch::new(2, |e| {
        e.set_property("timeout", 100_000_000u64);
        e.set_property("auto-switch-back", true);
        e.set_property("switch-back-delay", 300_000_000u64);
    });
    lockstep(&mut s, 0..10, 5, 5);
    // sink_0 (priority 0) ends; the output fails over to sink_1.
    s.inputs[0].push_event(gst::event::Eos::new());
    for n in 10..20 {
        s.push(1, n, n % 5 == 0);
    }
    // sink_0 comes back (a new stream on the pad) and stays healthy past the delay.
    s.inputs[0].push_event(gst::event::StreamStart::new("restarted"));
    s.inputs[0].push_event(gst::event::Caps::new(&caps(320)));
    s.inputs[0].push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let start = std::time::Instant::now();
    let mut n = 20;
    while start.elapsed() < Duration::from_millis(600) {
        s.push(0, n, n % 5 == 0);
        s.push(1, n, n % 5 == 0);
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = s.outputs();
    assert_consecutive(&out, 0, n - 1);
    let switched = s.messages("synchronizedswitch-switched");
    let reasons: Vec<String> = switched
        .iter()
        .map(|m| m.get::<String>("reason").unwrap())
        .collect();
    assert_eq!(reasons, ["initial", "eos", "priority"]);
    let back = switched[2].get::<i64>("frame").unwrap();
    assert_eq!(back % 5, 0, "back on a keyframe");
    assert!(back >= 20 + 300 / 40 - 1, "not before the delay: {back}");
    assert_eq!(s.element.property::<gst::Pad>("active-pad"), s.pad(0));
}

#[test]
fn priority_decides_the_initial_branch_and_the_failover_target() {
    let mut s = Switch::new(3, |_| {});
    s.pad(0).set_property("priority", 5u32);
    s.pad(1).set_property("priority", 1u32);
    s.pad(2).set_property("priority", 3u32);
    for n in 0..5 {
        for b in 0..3 {
            s.push(b, n, true);
        }
    }
    // The backups are ahead: both hold frames 5..10 when the active branch ends.
    for n in 5..10 {
        s.push(0, n, true);
        s.push(2, n, true);
    }
    s.inputs[1].push_event(gst::event::Eos::new());
    let out = s.outputs();
    assert_consecutive(&out, 0, 9);
    assert!(out[..5].iter().all(|o| o.0 == 1));
    assert!(out[5..].iter().all(|o| o.0 == 2), "{out:?}");
}

#[test]
fn new_caps_go_out_exactly_at_the_switch_frame() {
    let mut s = Switch::new(2, |_| {});
    // Branch 1: same content, another encoder profile.
    let mut other = caps(320);
    other.make_mut().set("profile", "high");
    s.inputs[1].set_src_caps(other.clone());
    // Everything the src pad sends, events and buffers, in order.
    let sequence = Arc::new(Mutex::new(Vec::new()));
    {
        let sequence = sequence.clone();
        s.element.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let entry = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => Some(format!(
                        "frame {}",
                        framemeta::timecode_of(b, None)
                            .unwrap()
                            .unwrap()
                            .frame_index()
                    )),
                    Some(gst::PadProbeData::Event(e)) => match e.view() {
                        gst::EventView::Caps(c) => Some(format!(
                            "caps {}",
                            c.caps()
                                .structure(0)
                                .unwrap()
                                .get::<&str>("profile")
                                .unwrap_or("-")
                        )),
                        _ => None,
                    },
                    _ => None,
                };
                sequence.lock().unwrap().extend(entry);
                gst::PadProbeReturn::Ok
            },
        );
    }
    lockstep(&mut s, 0..5, 5, 5);
    s.element.set_property("active-pad", s.pad(1));
    lockstep(&mut s, 5..10, 5, 5);
    let sequence = sequence.lock().unwrap().clone();
    let expected: Vec<String> = std::iter::once("caps -".to_string())
        .chain((0..5).map(|n| format!("frame {n}")))
        .chain(std::iter::once("caps high".to_string()))
        .chain((5..10).map(|n| format!("frame {n}")))
        .collect();
    assert_eq!(sequence, expected);
    let src_caps = s.element.static_pad("src").unwrap().current_caps().unwrap();
    assert_eq!(src_caps, other);
}

#[test]
fn latency_query_reports_nothing_added_in_steady_state_and_the_window_at_most() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true num-buffers=10 ! video/x-raw,format=I420,width=64,height=64,framerate=25/1 ! timecodestamper ! tee name=t \
         t. ! queue ! sw.sink_0  t. ! queue ! sw.sink_1 \
         synchronizedswitch name=sw max-window=10 ! fakesink name=out",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    let mut q = gst::query::Latency::new();
    let sw = pipeline.by_name("sw").unwrap();
    assert!(sw.static_pad("src").unwrap().query(&mut q));
    let (live, min, max) = q.result();
    assert!(live);
    // videotestsrc live adds one frame (40 ms); the switch adds nothing to the minimum and
    // max-window frames (10 × 40 ms) to the maximum.
    assert_eq!(min, gst::ClockTime::from_mseconds(40));
    let upstream_max = {
        let mut q = gst::query::Latency::new();
        assert!(sw.static_pad("sink_0").unwrap().peer_query(&mut q));
        q.result().2
    };
    assert_eq!(
        max,
        upstream_max.map(|m| m + gst::ClockTime::from_mseconds(400))
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Frame `n` without a timecode: only a PTS and, optionally, a UTC reference timestamp.
fn untimed_frame(branch: u8, n: i64, keyframe: bool, utc_base_ns: Option<u64>) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_slice([branch]);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(40 * n as u64));
        if let Some(base) = utc_base_ns {
            gst::ReferenceTimestampMeta::add(
                b,
                &gst::Caps::new_empty_simple(framemeta::UNIX_REFERENCE),
                gst::ClockTime::from_nseconds(base + 40_000_000 * n as u64),
                None,
            );
        }
        if !keyframe {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buffer
}

fn align_by_run(align_by: &str, utc: Option<u64>) -> Vec<(u8, i64)> {
    init();
    let element = gst::ElementFactory::make("synchronizedswitch")
        .property_from_str("align-by", align_by)
        .build()
        .unwrap();
    let mut h0 = Harness::with_element(&element, Some("sink_0"), Some("src"));
    let mut h1 = Harness::with_element(&element, Some("sink_1"), None);
    h0.set_src_caps(caps(320));
    h1.set_src_caps(caps(320));
    for n in 0..20 {
        h0.push(untimed_frame(0, n, n % 5 == 0, utc)).unwrap();
        // Branch 1 is a few ms off (another encoder's timestamps): the same frame by rounding.
        let mut b = untimed_frame(1, n, n % 5 == 0, utc.map(|u| u + 3_000_000));
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40 * n as u64 + 3));
        h1.push(b).unwrap();
        if n == 7 {
            element.set_property("active-pad", element.static_pad("sink_1").unwrap());
        }
    }
    std::iter::from_fn(|| h0.try_pull())
        .map(|b| {
            let branch = b.map_readable().unwrap()[0];
            (branch, b.pts().unwrap().mseconds() as i64 / 40)
        })
        .collect()
}

#[test]
fn align_by_pts_and_reference_timestamp_switch_frame_accurately() {
    for (align_by, utc) in [
        ("pts", None),
        ("reference-timestamp", Some(1_763_942_400_000_000_000u64)),
    ] {
        let out = align_by_run(align_by, utc);
        let frames: Vec<i64> = out.iter().map(|o| o.1).collect();
        assert_eq!(frames, (0..20).collect::<Vec<_>>(), "{align_by}");
        let branches: Vec<u8> = out.iter().map(|o| o.0).collect();
        let expected: Vec<u8> = (0..20).map(|n| u8::from(n >= 10)).collect();
        assert_eq!(branches, expected, "{align_by}: switch at the keyframe 10");
    }
}

#[test]
fn frames_without_a_name_are_refused_with_a_warning() {
    // align-by=timecode and no GstVideoTimeCodeMeta: nothing can be aligned.
    init();
    let element = gst::ElementFactory::make("synchronizedswitch")
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let mut h0 = Harness::with_element(&element, Some("sink_0"), Some("src"));
    h0.set_src_caps(caps(320));
    for n in 0..3 {
        h0.push(untimed_frame(0, n, true, None)).unwrap();
    }
    assert!(h0.try_pull().is_none());
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .expect("a warning");
    assert!(
        warning.contains("timecodeparse") && warning.contains("align-by"),
        "{warning}"
    );
    let stats = element.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames-unnamed").unwrap(), 3);
}
