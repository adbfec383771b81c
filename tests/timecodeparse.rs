// SPDX-License-Identifier: MPL-2.0
//! Element tests of `timecodeparse`: the shared fixtures (checked against the independent
//! readers' expectations and against upstream h264parse's own meta), streams made by the tests,
//! gst-check Harness tests of latching, timelines, properties and bad input.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;
use gstlockstep::timecode::utc;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstlockstep::plugin_register_static().expect("lockstep registers");
    });
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/timecode")).join(name)
}

/// What left timecodeparse for one buffer.
#[derive(Debug, Clone)]
struct Frame {
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    timecode: Option<String>,
    /// The time code meta's own date-time (daily jam + timecode), µs.
    meta_date_us: Option<i64>,
    utc_ns: Option<i64>,
    /// upstream h264parse/h265parse's meta on the same buffer, before timecodeparse.
    upstream_timecode: Option<String>,
}

struct Run {
    frames: Vec<Frame>,
    latched: Vec<gst::Structure>,
    warnings: Vec<String>,
    stats: gst::Structure,
    segments: Vec<gst::FormattedSegment<gst::ClockTime>>,
}

fn unix_meta_ns(buffer: &gst::BufferRef) -> Option<i64> {
    buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|m| {
            m.reference()
                .structure(0)
                .is_some_and(|s| s.name() == "timestamp/x-unix")
        })
        .map(|m| m.timestamp().nseconds() as i64)
}

fn tc_of(buffer: &gst::BufferRef) -> Option<String> {
    buffer
        .meta::<gst_video::VideoTimeCodeMeta>()
        .map(|m| m.tc().to_string())
}

/// Run `launch` (which names a `timecodeparse` "tc" and ends in nothing: an appsink is added)
/// to EOS and collect every output frame.
fn run_pipeline(launch: &str) -> Run {
    init();
    let pipeline = gst::parse::launch(&format!("{launch} ! appsink name=sink sync=false"))
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let tc = pipeline.by_name("tc").expect("a timecodeparse named tc");
    let sink = pipeline
        .by_name("sink")
        .and_downcast::<gst_app::AppSink>()
        .expect("appsink");

    // Upstream parser's own meta, read on timecodeparse's sink pad (before we replace it).
    let upstream: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let upstream_probe = upstream.clone();
    tc.static_pad("sink").expect("sink pad").add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            if let Some(buffer) = info.buffer() {
                upstream_probe.lock().unwrap().push(tc_of(buffer));
            }
            gst::PadProbeReturn::Ok
        },
    );
    let segments: Arc<Mutex<Vec<_>>> = Arc::default();
    let segments_probe = segments.clone();
    tc.static_pad("src").expect("src pad").add_probe(
        gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            if let Some(gst::EventView::Segment(s)) = info.event().map(|e| e.view())
                && let Ok(seg) = s.segment().clone().downcast::<gst::ClockTime>()
            {
                segments_probe.lock().unwrap().push(seg);
            }
            gst::PadProbeReturn::Ok
        },
    );

    let frames: Arc<Mutex<Vec<Frame>>> = Arc::default();
    let frames_cb = frames.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().expect("sample has a buffer");
                let meta_date_us = buffer
                    .meta::<gst_video::VideoTimeCodeMeta>()
                    .and_then(|m| m.tc().to_date_time().ok())
                    .map(|d| d.to_unix() * 1_000_000 + i64::from(d.microsecond()));
                frames_cb.lock().unwrap().push(Frame {
                    pts: buffer.pts(),
                    dts: buffer.dts(),
                    timecode: tc_of(buffer),
                    meta_date_us,
                    utc_ns: unix_meta_ns(buffer),
                    upstream_timecode: None,
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );

    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
    let bus = pipeline.bus().expect("bus");
    let mut latched = vec![];
    let mut warnings = vec![];
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null).ok();
                panic!("pipeline error: {} ({:?})", e.error(), e.debug());
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "timecodeparse-latched"
                {
                    latched.push(s.to_owned());
                }
            }
            _ => (),
        }
    }
    let stats = tc.property::<gst::Structure>("stats");
    pipeline
        .set_state(gst::State::Null)
        .expect("pipeline stops");

    let mut frames = frames.lock().unwrap().clone();
    let upstream = upstream.lock().unwrap();
    assert_eq!(
        frames.len(),
        upstream.len(),
        "every input buffer leaves, once"
    );
    for (frame, up) in frames.iter_mut().zip(upstream.iter()) {
        frame.upstream_timecode = up.clone();
    }
    Run {
        frames,
        latched,
        warnings,
        stats,
        segments: segments.lock().unwrap().clone(),
    }
}

/// The decode-order timecodes the independent reader (tcsei.py) found: `expected/<f>.tcsei.txt`.
fn tcsei_decode_order(file: &str) -> Vec<(usize, Option<String>)> {
    let text = std::fs::read_to_string(fixture(&format!("expected/{file}.tcsei.txt")))
        .expect("expected file exists");
    text.lines()
        .filter(|l| l.starts_with("dec="))
        .map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_string)
            };
            let disp = field("disp=")
                .and_then(|d| d.parse().ok())
                .expect("disp= field");
            let tc = field("tc=").filter(|t| t != "None" && t != "-");
            (disp, tc)
        })
        .collect()
}

fn fixtures_json() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixture("fixtures.json")).expect("fixtures.json");
    serde_json::from_str(&text).expect("fixtures.json parses")
}

fn parser_for(file: &str) -> &'static str {
    if file.starts_with("h265") {
        "h265parse"
    } else {
        "h264parse"
    }
}

const SEED_NOW: &str = "2021-12-06T21:00:00Z";

/// The anchors (first frame in display order) of the fixtures, µs, UTC zone.
fn anchor_us(file: &str) -> Option<(&'static str, &'static str)> {
    // (reference-time, anchor)
    Some(match file {
        "h264_30fps_ndf_bframes_hrd_gst.h264"
        | "h264_30fps_ndf_bframes_hrd_gst.ts"
        | "h265_30fps_ndf_py.h265"
        | "h265_30fps_ndf_py.ts"
        | "h264_30fps_ndf_gst122_malformed_sei.h264" => (SEED_NOW, "2021-12-06T16:30:00.333333Z"),
        "h264_2997fps_df_gst.ts"
        | "h264_2997fps_df_py.h264"
        | "h265_2997fps_df_ffstyle_py.h265" => (SEED_NOW, "2021-12-06T00:00:59.667333Z"),
        "h264_5994fps_df_py.h264" => (SEED_NOW, "2021-12-06T00:00:59.834166Z"),
        "h264_23976fps_ndf_py.h264" => (SEED_NOW, "2021-12-06T16:30:00.417083Z"),
        "h265_2997fps_df_py.h265" => (SEED_NOW, "2021-12-06T00:09:59.667333Z"),
        "h264_25fps_ndf_midnight_py.h264" => {
            ("2021-12-07T00:00:02Z", "2021-12-06T23:59:59.600000Z")
        }
        _ => return None,
    })
}

fn rate_of(entry: &serde_json::Value) -> (i64, i64) {
    let rate = entry["rate"].as_str().expect("rate");
    let (n, d) = rate.split_once('/').expect("N/D");
    (n.parse().expect("num"), d.parse().expect("den"))
}

/// Every fixture, through `filesrc ! parser ! timecodeparse source=embedded`: each frame's
/// timecode equals the independent reader's, and its UTC instant is the anchor of §6.3 plus its
/// display position — for raw elementary streams (B-frames, no PTS) and MPEG-TS (PTS) alike.
#[test]
fn fixtures_timecodes_and_utc() {
    for entry in fixtures_json() {
        let file = entry["file"].as_str().expect("file");
        let Some((now, anchor)) = anchor_us(file) else {
            continue;
        };
        let (num, den) = rate_of(&entry);
        let expected_display: Vec<String> = entry["expected_display_order"]
            .as_array()
            .expect("expected_display_order")
            .iter()
            .map(|v| v.as_str().expect("string").to_string())
            .collect();
        let demux = if file.ends_with(".ts") {
            "tsdemux ! "
        } else {
            ""
        };
        let run = run_pipeline(&format!(
            "filesrc location={} ! {demux}{} ! timecodeparse name=tc source=embedded reference-time={now}",
            fixture(file).display(),
            parser_for(file)
        ));
        assert_eq!(
            run.frames.len(),
            expected_display.len(),
            "{file}: frame count"
        );

        // Display index of each output frame (decode order): from tcsei.py's dump for
        // elementary streams, from PTS order for MPEG-TS.
        let display_index: Vec<usize> = if file.ends_with(".ts") {
            let mut order: Vec<usize> = (0..run.frames.len()).collect();
            order.sort_by_key(|&i| run.frames[i].pts);
            let mut index = vec![0; run.frames.len()];
            for (disp, &i) in order.iter().enumerate() {
                index[i] = disp;
            }
            index
        } else {
            tcsei_decode_order(file).iter().map(|(d, _)| *d).collect()
        };
        let anchor_ns = utc::parse_rfc3339(anchor).expect("anchor parses");
        for (i, frame) in run.frames.iter().enumerate() {
            let disp = display_index[i];
            assert_eq!(
                frame.timecode.as_deref(),
                Some(expected_display[disp].as_str()),
                "{file}: decode index {i} (display {disp})"
            );
            let expected_ns = anchor_ns + (disp as i64 * den * 1_000_000_000) / num;
            let utc_ns = frame.utc_ns.expect("UTC meta on every frame");
            assert!(
                (utc_ns - expected_ns).abs() < 1_000,
                "{file}: display {disp}: UTC {} != {}",
                utc::format_rfc3339_nanos(utc_ns),
                utc::format_rfc3339_nanos(expected_ns)
            );
            // The meta's daily jam is the resolved date: GStreamer's own date-time of the
            // time code is our UTC instant (to the µs GDateTime keeps).
            let meta_us = frame.meta_date_us.expect("time code meta has a date-time");
            assert!(
                (meta_us - utc_ns / 1000).abs() <= 1,
                "{file}: meta date-time"
            );
        }
        assert_eq!(run.latched.len(), 1, "{file}: one latch");
        let stats = &run.stats;
        assert_eq!(
            stats.get::<u64>("frames").unwrap(),
            expected_display.len() as u64
        );
        assert_eq!(
            stats.get::<u64>("embedded").unwrap(),
            expected_display.len() as u64,
            "{file}"
        );
        assert_eq!(
            stats.get::<u64>("mismatches").unwrap(),
            0,
            "{file}: mismatches"
        );
        if file.contains("malformed") {
            assert!(
                stats.get::<u64>("malformed").unwrap() > 0,
                "{file}: malformed counted"
            );
            assert!(
                !run.warnings.is_empty(),
                "{file}: a warning says what is wrong"
            );
        } else {
            assert_eq!(stats.get::<u64>("malformed").unwrap(), 0, "{file}: {stats}");
        }
    }
}

/// Where upstream h264parse (1.22) attaches its own meta, ours agrees on the digits; on the
/// separator too wherever the fixture table says h264parse reads drop-frame right.
#[test]
fn agrees_with_h264parse_meta() {
    for entry in fixtures_json() {
        let file = entry["file"].as_str().expect("file");
        if !file.starts_with("h264") || anchor_us(file).is_none() {
            continue;
        }
        let demux = if file.ends_with(".ts") {
            "tsdemux ! "
        } else {
            ""
        };
        let run = run_pipeline(&format!(
            "filesrc location={} ! {demux}h264parse ! timecodeparse name=tc source=embedded reference-time={SEED_NOW}",
            fixture(file).display()
        ));
        let separator_ok = entry["readers"]["gst122"]["separator_match"]
            .as_bool()
            .unwrap_or(false);
        let mut compared = 0;
        for frame in &run.frames {
            let (Some(ours), Some(theirs)) = (&frame.timecode, &frame.upstream_timecode) else {
                continue;
            };
            let digits = |s: &str| s.replace(';', ":");
            assert_eq!(digits(ours), digits(theirs), "{file}");
            if separator_ok {
                assert_eq!(ours, theirs, "{file}");
            }
            compared += 1;
        }
        assert!(
            compared > 0,
            "{file}: h264parse attached metas to compare with"
        );
    }
}

#[test]
fn no_timecode_stream_passes_unchanged_with_a_warning() {
    let run = run_pipeline(&format!(
        "filesrc location={} ! h264parse ! timecodeparse name=tc source=embedded",
        fixture("h264_30fps_no_timecode.h264").display()
    ));
    assert_eq!(run.frames.len(), 30);
    assert!(
        run.frames
            .iter()
            .all(|f| f.timecode.is_none() && f.utc_ns.is_none())
    );
    assert_eq!(run.stats.get::<u64>("missing").unwrap(), 30);
    assert!(run.latched.is_empty());
    assert_eq!(
        run.warnings.len(),
        1,
        "one warning for the kind: {:?}",
        run.warnings
    );
}

/// The Live Stream API's conversion, time zone included, on a real stream.
#[test]
fn time_zone_los_angeles_on_fixture() {
    let run = run_pipeline(&format!(
        "filesrc location={} ! h264parse ! timecodeparse name=tc source=embedded reference-time={SEED_NOW} time-zone=America/Los_Angeles",
        fixture("h264_30fps_ndf_bframes_hrd_gst.h264").display()
    ));
    let first = &run.frames[0];
    assert_eq!(first.timecode.as_deref(), Some("16:30:00:10"));
    assert_eq!(
        utc::format_rfc3339_micros(first.utc_ns.unwrap()),
        "2021-12-06T00:30:00.333333Z"
    );
    let latched = &run.latched[0];
    assert_eq!(latched.get::<String>("timecode").unwrap(), "16:30:00:10");
    assert_eq!(
        latched.get::<String>("utc").unwrap(),
        "2021-12-06T00:30:00.333Z"
    );
    assert_eq!(latched.get::<String>("source").unwrap(), "embedded");
    assert_eq!(latched.get::<String>("reason").unwrap(), "first");
}

/// `date` pins the date outright, whatever "now" is.
#[test]
fn pinned_date() {
    let run = run_pipeline(&format!(
        "filesrc location={} ! h264parse ! timecodeparse name=tc source=embedded date=2020-02-29 utc-offset=3600",
        fixture("h264_25fps_ndf_midnight_py.h264").display()
    ));
    // 23:59:59:15 at UTC+1 on 2020-02-29 is 22:59:59.600Z that day.
    let first_display = run
        .frames
        .iter()
        .filter_map(|f| f.utc_ns)
        .min()
        .expect("frames have UTC");
    assert_eq!(
        utc::format_rfc3339_millis(first_display),
        "2020-02-29T22:59:59.600Z"
    );
}

// ---------------------------------------------------------------------------------------------
// Streams the tests make themselves: GStreamer's own SEI writer (x264enc pic-struct=1 +
// h264parse update-timecode on avc) at several rates, read back from a file.

fn generate_h264(rate: &str, start: &str, frames: u32, drop: bool) -> PathBuf {
    init();
    let path = std::env::temp_dir().join(format!(
        "lockstep-test-{}-{}-{}.h264",
        std::process::id(),
        rate.replace('/', "_"),
        start.replace([':', ';'], "")
    ));
    let launch = format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=I420,width=160,height=96,framerate={rate} ! \
         timecodestamper drop-frame={drop} set-internal-timecode=\"{start}\" ! \
         x264enc speed-preset=ultrafast bframes=0 key-int-max=15 option-string=pic-struct=1 ! \
         video/x-h264,stream-format=avc,alignment=au ! h264parse update-timecode=true ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! filesink location={}",
        path.display()
    );
    let pipeline = gst::parse::launch(&launch).expect("generator parses");
    pipeline
        .set_state(gst::State::Playing)
        .expect("generator plays");
    let bus = pipeline.bus().expect("bus");
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("generator finishes");
    assert!(
        matches!(msg.view(), gst::MessageView::Eos(_)),
        "generator: {msg:?}"
    );
    pipeline
        .set_state(gst::State::Null)
        .expect("generator stops");
    path
}

#[test]
fn generated_streams_at_many_rates() {
    // (caps rate, start, drop-frame, frames)
    let cases = [
        ("24000/1001", "10:00:00:00", false, 50),
        ("24/1", "10:00:00:20", false, 50),
        ("25/1", "23:59:58:20", false, 60),
        ("30000/1001", "00:00:59;25", true, 70),
        ("30/1", "12:34:56:28", false, 40),
        ("50/1", "01:00:00:45", false, 60),
        ("60000/1001", "00:09:59;55", true, 70),
        ("60/1", "08:00:00:58", false, 40),
    ];
    for (rate, start, drop, frames) in cases {
        let path = generate_h264(rate, start, frames, drop);
        let run = run_pipeline(&format!(
            "filesrc location={} ! h264parse ! timecodeparse name=tc source=embedded reference-time=2022-06-01T00:00:00Z",
            path.display()
        ));
        let _ = std::fs::remove_file(&path);
        let (num, den) = rate.split_once('/').unwrap();
        let rate_core =
            gstlockstep::timecode::FrameRate::new(num.parse().unwrap(), den.parse().unwrap())
                .unwrap();
        let first: gstlockstep::timecode::Timecode = start.parse().unwrap();
        assert_eq!(run.frames.len(), frames as usize, "{rate}");
        let first_utc = run.frames[0].utc_ns.unwrap();
        for (k, frame) in run.frames.iter().enumerate() {
            let expected = first.add_frames(k as i64, rate_core).to_string();
            assert_eq!(
                frame.timecode.as_deref(),
                Some(expected.as_str()),
                "{rate} frame {k}"
            );
            // Frames advance by exactly one frame period (floor to ns), across midnight too.
            let expected_utc = first_utc - rate_core.frames_to_ns(i64::from(first.frames))
                + rate_core.frames_to_ns(i64::from(first.frames) + k as i64);
            assert_eq!(frame.utc_ns, Some(expected_utc), "{rate} frame {k}");
        }
        // GStreamer 1.22's SEI writer omits hh:mm:ss when they are all 0 (fixed upstream in
        // f32402e9b4: "invalid between midnight and 1am"); read per the standard, absent fields
        // carry forward, so every frame after midnight (00:00:0s:ff, written without minutes and
        // hours) reads as 23:59:0s:ff: counted as mismatches, while the output stays right.
        let expected_mismatches = (0..frames)
            .filter(|&k| first.hours == 23 && first.add_frames(i64::from(k), rate_core).hours == 0)
            .count() as u64;
        assert_eq!(
            run.stats.get::<u64>("mismatches").unwrap(),
            expected_mismatches,
            "{rate}"
        );
    }
}

/// Raw video: source=meta (timecodestamper upstream) and source=media-timestamp agree.
#[test]
fn raw_video_meta_and_media_timestamp() {
    let meta = run_pipeline(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=64,height=48,framerate=25/1 ! \
         timecodestamper set-internal-timecode=\"07:00:00:00\" ! \
         timecodeparse name=tc source=meta reference-time=2022-01-01T12:00:00Z",
    );
    let media = run_pipeline(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=64,height=48,framerate=25/1 ! \
         timecodeparse name=tc first-timecode=07:00:00:00 reference-time=2022-01-01T12:00:00Z",
    );
    for (a, b) in meta.frames.iter().zip(media.frames.iter()) {
        assert_eq!(a.timecode, b.timecode);
        assert_eq!(a.utc_ns, b.utc_ns);
    }
    assert_eq!(meta.frames[29].timecode.as_deref(), Some("07:00:01:04"));
    assert_eq!(
        utc::format_rfc3339_millis(meta.frames[29].utc_ns.unwrap()),
        "2022-01-01T07:00:01.160Z"
    );
    assert_eq!(
        media.latched[0].get::<String>("source").unwrap(),
        "media-timestamp"
    );
}

/// timeline=timecode: running time is the UTC instant in ns since the Unix epoch; PTS–DTS
/// offsets survive (the TS fixture has B-frames with real PTS/DTS).
#[test]
fn timecode_timeline_on_mpegts() {
    let run = run_pipeline(&format!(
        "filesrc location={} ! tsdemux ! h264parse ! timecodeparse name=tc source=embedded reference-time={SEED_NOW} timeline=timecode",
        fixture("h264_30fps_ndf_bframes_hrd_gst.ts").display()
    ));
    assert_eq!(
        run.segments.len(),
        1,
        "one segment, ours: {:?}",
        run.segments
    );
    let segment = &run.segments[0];
    assert_eq!(segment.start(), Some(gst::ClockTime::ZERO));
    assert_eq!(segment.base(), Some(gst::ClockTime::ZERO));
    for frame in &run.frames {
        let pts = frame.pts.expect("PTS");
        assert_eq!(pts.nseconds() as i64, frame.utc_ns.unwrap(), "PTS = UTC");
        let running = segment.to_running_time(pts).unwrap();
        assert_eq!(running, pts);
    }
    // Decode order and PTS–DTS offsets: compare with the same run on the keep timeline.
    let keep = run_pipeline(&format!(
        "filesrc location={} ! tsdemux ! h264parse ! timecodeparse name=tc source=embedded reference-time={SEED_NOW}",
        fixture("h264_30fps_ndf_bframes_hrd_gst.ts").display()
    ));
    for (a, b) in run.frames.iter().zip(keep.frames.iter()) {
        let lead_a = a.pts.unwrap().nseconds() as i64 - a.dts.unwrap().nseconds() as i64;
        let lead_b = b.pts.unwrap().nseconds() as i64 - b.dts.unwrap().nseconds() as i64;
        assert_eq!(lead_a, lead_b);
    }
    let dts: Vec<_> = run.frames.iter().map(|f| f.dts.unwrap()).collect();
    assert!(
        dts.windows(2).all(|w| w[0] < w[1]),
        "DTS strictly increasing"
    );
}

// ---------------------------------------------------------------------------------------------
// Harness tests with synthetic buffers.

/// A Harness around one `timecodeparse` configured by "name=value" pairs after its name.
fn harness(description: &str, caps: &str) -> gst_check::Harness {
    init();
    let mut words = description.split_whitespace();
    let element = gst::ElementFactory::make(words.next().expect("element name"))
        .build()
        .expect("element exists");
    for word in words {
        let (name, value) = word.split_once('=').expect("name=value");
        element.set_property_from_str(name, value);
    }
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(caps);
    h.play();
    h
}

fn meta_buffer(
    tc: &str,
    fps: (i32, i32),
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
) -> gst::Buffer {
    let parsed: gstlockstep::timecode::Timecode = tc.parse().expect("timecode");
    let mut buffer = gst::Buffer::with_size(16).expect("buffer");
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(pts);
        b.set_dts(dts);
        let flags = if parsed.drop_frame {
            gst_video::VideoTimeCodeFlags::DROP_FRAME
        } else {
            gst_video::VideoTimeCodeFlags::empty()
        };
        let vtc = gst_video::VideoTimeCode::new(
            gst::Fraction::new(fps.0, fps.1),
            None,
            flags,
            parsed.hours.into(),
            parsed.minutes.into(),
            parsed.seconds.into(),
            parsed.frames.into(),
            0,
        );
        gst_video::VideoTimeCodeMeta::add(b, &vtc.try_into().expect("valid tc"));
    }
    buffer
}

const RAW_CAPS_25: &str = "video/x-raw,format=I420,width=16,height=16,framerate=25/1";

fn ms(n: u64) -> Option<gst::ClockTime> {
    Some(gst::ClockTime::from_mseconds(n))
}

/// Two instances fed the same frames at different wall-clock moments (different input
/// timestamps) stamp every frame alike with timeline=timecode, and DTS keeps its lead.
#[test]
fn two_instances_same_timestamps() {
    let description =
        "timecodeparse source=meta timeline=timecode reference-time=2022-01-01T12:00:00Z";
    let mut outputs = vec![];
    for offset_ms in [0u64, 123_457] {
        let mut h = harness(description, RAW_CAPS_25);
        let mut out = vec![];
        for k in 0..10u64 {
            let tc = format!("11:00:00:{k:02}");
            let pts = offset_ms + 80 + k * 40;
            h.push(meta_buffer(&tc, (25, 1), ms(pts), ms(pts - 80)))
                .unwrap();
            let b = h.pull().unwrap();
            out.push((b.pts(), b.dts()));
        }
        outputs.push(out);
    }
    assert_eq!(outputs[0], outputs[1]);
    let first_pts = outputs[0][0].0.unwrap().nseconds() as i64;
    assert_eq!(
        utc::format_rfc3339_millis(first_pts),
        "2022-01-01T11:00:00.000Z"
    );
    let (pts, dts) = outputs[0][3];
    assert_eq!(
        pts.unwrap() - dts.unwrap(),
        gst::ClockTime::from_mseconds(80)
    );
}

/// With timeline=timecode, upstream events that name a downstream running time (a sink's
/// force-key-unit for a segment boundary, QoS) reach upstream on the input's timeline: an
/// encoder before timecodeparse then cuts its keyframe on the frame that was asked for.
#[test]
fn upstream_running_times_are_carried_back_to_the_input_timeline() {
    let mut h = harness(
        "timecodeparse source=meta timeline=timecode reference-time=2022-01-01T12:00:00Z",
        RAW_CAPS_25,
    );
    // Input running time 5 s carries 11:00:00:00 = 2022-01-01T11:00:00Z.
    for k in 0..3u64 {
        let tc = format!("11:00:00:{k:02}");
        h.push(meta_buffer(&tc, (25, 1), ms(5_000 + k * 40), None))
            .unwrap();
        h.pull().unwrap();
    }
    let utc_11 = gst::ClockTime::from_nseconds(1_641_034_800_000_000_000);
    // The boundary one second after 11:00:00 on the UTC timeline is input running time 6 s.
    assert!(
        h.push_upstream_event(
            gst_video::UpstreamForceKeyUnitEvent::builder()
                .running_time(utc_11 + gst::ClockTime::SECOND)
                .all_headers(true)
                .count(3)
                .build()
        )
    );
    let upstream: Vec<gst::Event> = std::iter::from_fn(|| h.try_pull_upstream_event()).collect();
    let fku = upstream
        .iter()
        .find(|e| gst_video::ForceKeyUnitEvent::is(e))
        .expect("the force-key-unit event goes upstream");
    let parsed = gst_video::UpstreamForceKeyUnitEvent::parse(fku).unwrap();
    assert_eq!(parsed.running_time, Some(gst::ClockTime::from_seconds(6)));
    assert!(parsed.all_headers);
    assert_eq!(parsed.count, 3);

    assert!(
        h.push_upstream_event(
            gst::event::Qos::builder(gst::QOSType::Underflow, 1.5, 1_000_000)
                .timestamp(utc_11 + gst::ClockTime::from_mseconds(80))
                .build()
        )
    );
    let upstream: Vec<gst::Event> = std::iter::from_fn(|| h.try_pull_upstream_event()).collect();
    let qos = upstream
        .iter()
        .find_map(|e| match e.view() {
            gst::EventView::Qos(q) => Some(q.get()),
            _ => None,
        })
        .expect("the QoS event goes upstream");
    assert_eq!(qos.3, Some(gst::ClockTime::from_mseconds(5_080)));
    assert_eq!((qos.1, qos.2), (1.5, 1_000_000));
}

fn stats_of(h: &gst_check::Harness) -> gst::Structure {
    h.element()
        .expect("element")
        .property::<gst::Structure>("stats")
}

/// on-discontinuity: a jump in the upstream timecode is counted (once reported), the advanced
/// timecode continues; a DISCONT buffer re-latches.
#[test]
fn latching_mismatch_and_discontinuity() {
    let mut h = harness(
        "timecodeparse source=meta reference-time=2022-01-01T12:00:00Z",
        RAW_CAPS_25,
    );
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let mut out = vec![];
    let tcs = ["10:00:00:00", "10:00:00:01", "10:00:05:00", "10:00:05:01"];
    for (k, tc) in tcs.iter().enumerate() {
        h.push(meta_buffer(tc, (25, 1), ms(k as u64 * 40), None))
            .unwrap();
        out.push(tc_of(&h.pull().unwrap()).unwrap());
    }
    assert_eq!(
        out,
        ["10:00:00:00", "10:00:00:01", "10:00:00:02", "10:00:00:03"]
    );
    let stats = stats_of(&h);
    assert_eq!(stats.get::<u64>("mismatches").unwrap(), 2);
    assert_eq!(stats.get::<u64>("resyncs").unwrap(), 0);

    // Reconnect: DISCONT → the next timecode latches again.
    let mut b = meta_buffer("10:00:05:02", (25, 1), ms(160), None);
    b.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
    h.push(b).unwrap();
    assert_eq!(tc_of(&h.pull().unwrap()).as_deref(), Some("10:00:05:02"));
    assert_eq!(stats_of(&h).get::<u64>("resyncs").unwrap(), 1);

    // One warning for all the mismatches, naming both values.
    let warnings: Vec<String> = std::iter::from_fn(|| bus.pop())
        .filter_map(|msg| match msg.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("10:00:05:00") && warnings[0].contains("10:00:00:02"),
        "{warnings:?}"
    );
}

#[test]
fn resync_every_frame_follows_the_input() {
    let mut h = harness(
        "timecodeparse source=meta resync=every-frame reference-time=2022-01-01T12:00:00Z",
        RAW_CAPS_25,
    );
    let tcs = ["10:00:00:00", "10:00:00:01", "10:00:05:00", "10:00:05:01"];
    let mut out = vec![];
    for (k, tc) in tcs.iter().enumerate() {
        h.push(meta_buffer(tc, (25, 1), ms(k as u64 * 40), None))
            .unwrap();
        let b = h.pull().unwrap();
        out.push((tc_of(&b).unwrap(), unix_meta_ns(&b).unwrap()));
    }
    let names: Vec<_> = out.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, tcs);
    assert_eq!(
        utc::format_rfc3339_millis(out[2].1),
        "2022-01-01T10:00:05.000Z"
    );
    let stats = stats_of(&h);
    assert_eq!(stats.get::<u64>("mismatches").unwrap(), 1);
    assert_eq!(stats.get::<u64>("resyncs").unwrap(), 1);
}

/// The strict date rule puts a timecode one frame ahead of "now" on the previous day;
/// future-tolerance keeps it today.
#[test]
fn future_tolerance() {
    for (tolerance, expected) in [
        (0u64, "2021-12-06T00:00:05.040Z"),
        (1_000_000_000, "2021-12-07T00:00:05.040Z"),
    ] {
        let mut h = harness(
            &format!(
                "timecodeparse source=meta reference-time=2021-12-07T00:00:05Z future-tolerance={tolerance}"
            ),
            RAW_CAPS_25,
        );
        h.push(meta_buffer("00:00:05:01", (25, 1), ms(0), None))
            .unwrap();
        let b = h.pull().unwrap();
        assert_eq!(
            utc::format_rfc3339_millis(unix_meta_ns(&b).unwrap()),
            expected
        );
    }
}

fn now_utc_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A live timecode taken from the wall clock resolves to today even when it is ahead of this
/// machine's clock at the latch (1 frame, 40 ms, 2 s): with the strict rule it went to
/// yesterday, 24 h off, and redundant packagers numbered their segments a day apart.
#[test]
fn wall_clock_timecode_ahead_of_now_resolves_to_today() {
    for ahead_ns in [40_000_000i64, 40_000_001, 2_000_000_000] {
        let mut h = harness("timecodeparse source=meta", RAW_CAPS_25);
        let labelled = now_utc_ns() + ahead_ns;
        let day_ns = labelled.rem_euclid(86_400_000_000_000);
        let second = day_ns / 1_000_000_000;
        let label = format!(
            "{:02}:{:02}:{:02}:{:02}",
            second / 3600,
            second / 60 % 60,
            second % 60,
            day_ns % 1_000_000_000 / 40_000_000
        );
        h.push(meta_buffer(&label, (25, 1), ms(0), None)).unwrap();
        let utc_ns = unix_meta_ns(&h.pull().unwrap()).unwrap();
        let off = utc_ns - now_utc_ns();
        assert!(
            (-3_000_000_000..3_000_000_000).contains(&off),
            "{label} ({ahead_ns} ns ahead) resolved to {}, {off} ns from now",
            utc::format_rfc3339_millis(utc_ns)
        );
    }
}

/// The pipeline a user writes first: `timecodestamper source=rtc` (the wall clock) before
/// `timecodeparse source=meta`, started several times, latches today every time.
#[test]
fn rtc_timecodestamper_latches_today_every_run() {
    for run in 0..6 {
        let result = run_pipeline(
            "videotestsrc is-live=true num-buffers=3 ! \
             video/x-raw,format=I420,width=64,height=64,framerate=25/1 ! \
             timecodestamper source=rtc ! timecodeparse name=tc source=meta",
        );
        let latched = result.latched.first().expect("a latch");
        let utc_ns: i64 = latched.get("utc-ns").unwrap();
        let off = utc_ns - now_utc_ns();
        assert!(
            (-5_000_000_000..3_000_000_000).contains(&off),
            "run {run}: latched {latched}, {off} ns from now"
        );
    }
}

fn state_change_error(description: &str) -> String {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! {description} ! fakesink"
    ))
    .expect("parses")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error is posted");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => e.error().to_string(),
        _ => unreachable!(),
    }
}

#[test]
fn configuration_errors_are_clear() {
    let both = state_change_error("timecodeparse time-zone=Europe/Berlin utc-offset=3600");
    assert!(
        both.contains("time-zone") && both.contains("utc-offset"),
        "{both}"
    );
    let zone = state_change_error("timecodeparse time-zone=Mars/Olympus_Mons");
    assert!(zone.contains("Mars/Olympus_Mons"), "{zone}");
    let date = state_change_error("timecodeparse date=2021-13-40");
    assert!(date.contains("2021-13-40"), "{date}");
    let tc = state_change_error("timecodeparse first-timecode=25:00:00:00");
    assert!(tc.contains("first-timecode"), "{tc}");
}

#[test]
fn media_timestamp_without_framerate_fails_negotiation() {
    let text =
        state_change_error("video/x-raw,framerate=0/1 ! timecodeparse source=media-timestamp");
    assert!(text.contains("frame rate"), "{text}");
    let embedded_raw = state_change_error("timecodeparse source=embedded");
    assert!(embedded_raw.contains("raw video"), "{embedded_raw}");
}

/// Random bytes as H.264 and H.265 access units: nothing panics, every buffer passes, faults
/// are counted.
#[test]
fn random_bytes_pass_through() {
    for caps in [
        "video/x-h264,stream-format=byte-stream,alignment=au,framerate=30/1",
        "video/x-h265,stream-format=byte-stream,alignment=au,framerate=30/1",
    ] {
        let mut h = harness("timecodeparse source=embedded", caps);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for n in 0..200u64 {
            let len = (n * 37 % 300) as usize + 1;
            let mut data = Vec::with_capacity(len + 4);
            data.extend_from_slice(&[0, 0, 0, 1]);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(seed as u8);
            }
            let mut buffer = gst::Buffer::from_mut_slice(data);
            buffer.get_mut().unwrap().set_pts(ms(n * 33));
            h.push(buffer).unwrap();
            h.pull().unwrap();
        }
        let stats = stats_of(&h);
        assert_eq!(stats.get::<u64>("frames").unwrap(), 200);
    }
}

/// Field-coded H.264 (one field per access unit, pic_struct 1 then 2, ct_type interlaced):
/// both fields of a frame get that frame's timecode, the meta says which field it is and that
/// the code is interlaced, and the UTC instant is the frame's.
#[test]
fn field_coded_h264() {
    use gstlockstep::bitstream::ClockTimestamp;
    use gstlockstep::bitstream::h264::{
        H264Sps, H264TimingInfo, H264Vui, PicTiming, pps_nal, slice_nal,
    };
    use gstlockstep::bitstream::nal::write_annex_b;

    let mut sps = H264Sps::example(0);
    sps.vui = Some(H264Vui {
        // Field tick: time_scale = 2 × 25 × num_units_in_tick.
        timing: Some(H264TimingInfo {
            num_units_in_tick: 1,
            time_scale: 50,
            fixed_frame_rate: true,
        }),
        pic_struct_present: true,
        ..Default::default()
    });
    let layout = sps.pic_timing_layout();
    let mut h = harness(
        "timecodeparse source=embedded reference-time=2022-01-01T12:00:00Z",
        "video/x-h264,stream-format=byte-stream,alignment=au,framerate=25/1,interlace-mode=interleaved",
    );
    let first: gstlockstep::timecode::Timecode = "10:00:00:20".parse().unwrap();
    let rate = gstlockstep::timecode::FrameRate::new(25, 1).unwrap();
    let mut out = vec![];
    for field in 0..20u64 {
        let frame = (field / 2) as i64;
        let tc = first.add_frames(frame, rate);
        let clock = ClockTimestamp {
            ct_type: 1,
            nuit_field_based: true,
            full_timestamp: true,
            n_frames: u16::from(tc.frames),
            seconds: Some(tc.seconds),
            minutes: Some(tc.minutes),
            hours: Some(tc.hours),
            ..Default::default()
        };
        let timing = PicTiming {
            pic_struct: Some(1 + (field % 2) as u8),
            clock_timestamps: [Some(clock), None, None],
            ..Default::default()
        };
        let sei = timing.to_sei_nal(&layout);
        let slice = slice_nal(field == 0, 0);
        let (sps_nal, pps) = (sps.to_nal(), pps_nal(0, 0));
        let au = if field == 0 {
            write_annex_b(&[&sps_nal, &pps, &sei, &slice])
        } else {
            write_annex_b(&[&sei, &slice])
        };
        let mut buffer = gst::Buffer::from_mut_slice(au);
        buffer.get_mut().unwrap().set_pts(ms(field * 20));
        h.push(buffer).unwrap();
        let b = h.pull().unwrap();
        let meta = b
            .meta::<gst_video::VideoTimeCodeMeta>()
            .expect("time code meta");
        let vtc = meta.tc();
        out.push((
            vtc.to_string(),
            vtc.field_count(),
            vtc.flags()
                .contains(gst_video::VideoTimeCodeFlags::INTERLACED),
            unix_meta_ns(&b).unwrap(),
        ));
        // GStreamer writes the first field of an interlaced code with '.' (',' for DF).
        assert_eq!(
            out.last().unwrap().0.replace('.', ":"),
            tc.to_string(),
            "field {field}"
        );
    }
    for pair in out.chunks(2) {
        assert_eq!(
            pair[0].0.replace('.', ":"),
            pair[1].0,
            "both fields carry the frame's timecode"
        );
        assert!(pair[0].0.contains('.'), "first field: {}", pair[0].0);
        assert_eq!(
            (pair[0].1, pair[1].1),
            (1, 2),
            "field_count says which field"
        );
        assert!(pair[0].2 && pair[1].2, "INTERLACED flag");
        assert_eq!(pair[0].3, pair[1].3, "the frame's UTC instant");
    }
    assert_eq!(
        utc::format_rfc3339_millis(out[0].3),
        "2022-01-01T10:00:00.800Z"
    );
    assert_eq!(stats_of(&h).get::<u64>("mismatches").unwrap(), 0);
}

/// The length-prefixed forms with codec_data (avc, avc3, hvc1, hev1) give the same timecodes
/// and instants as byte-stream: parameter sets from avcC/hvcC, NAL units delimited by size.
#[test]
fn codec_data_stream_formats() {
    for (file, caps) in [
        (
            "h264_30fps_ndf_bframes_hrd_gst.h264",
            "video/x-h264,stream-format=avc,alignment=au",
        ),
        (
            "h264_2997fps_df_py.h264",
            "video/x-h264,stream-format=avc3,alignment=au",
        ),
        (
            "h265_30fps_ndf_py.h265",
            "video/x-h265,stream-format=hvc1,alignment=au",
        ),
        (
            "h265_2997fps_df_py.h265",
            "video/x-h265,stream-format=hev1,alignment=au",
        ),
    ] {
        let parse = parser_for(file);
        let launch = |caps: &str| {
            format!(
                "filesrc location={} ! {parse} ! {caps} ! timecodeparse name=tc source=embedded reference-time={SEED_NOW}",
                fixture(file).display()
            )
        };
        let packed = run_pipeline(&launch(caps));
        let annex_b = run_pipeline(&launch(&caps.replace(
            caps.split(',').nth(1).expect("stream-format field"),
            "stream-format=byte-stream",
        )));
        assert!(!packed.frames.is_empty(), "{file}");
        let key = |r: &Run| -> Vec<_> {
            r.frames
                .iter()
                .map(|f| (f.timecode.clone(), f.utc_ns))
                .collect()
        };
        assert_eq!(key(&packed), key(&annex_b), "{file} as {caps}");
        assert!(
            packed.frames.iter().all(|f| f.timecode.is_some()),
            "{file} as {caps}"
        );
        assert_eq!(
            packed.stats.get::<u64>("malformed").unwrap(),
            0,
            "{file} as {caps}"
        );
    }
}
