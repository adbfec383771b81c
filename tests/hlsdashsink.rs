// SPDX-License-Identifier: MPL-2.0
//! Element tests of `hlsdashsink`: real pipelines (videotestsrc → timecodestamper →
//! timecodeparse → x264enc → hlsdashsink), manifests read with real parsers (m3u8-rs,
//! roxmltree, xmllint against the DASH schema, serde_json), segments probed with ffprobe and
//! decoded back through GStreamer; redundancy, restart and fault tests.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstlockstep::plugin_register_static().expect("lockstep registers");
    });
}

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/dash-schema/DASH-MPD.xsd"
);

/// UTC of 10:00:00:00 on the day `timecodeparse reference-time=…` resolves it to.
const T0_NS: i64 = 1_767_261_600_000_000_000; // 2026-01-01T10:00:00Z
/// k of the segment starting at T0 with 1 s segments.
const K0: i64 = 1_767_261_600;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-hds-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A timecoded, encoded source: 25 fps 320x180, first timecode `start`, `frames` frames.
/// Constant quantizer, so two branches encode the same picture identically whatever they
/// encoded before (rate control has no history); keyframes only where hlsdashsink asks for
/// them (force-key-unit) or at the first frame.
fn source(start: &str, frames: u32) -> String {
    format!(
        "videotestsrc num-buffers={frames} pattern=colors ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodestamper set-internal-timecode={start} ! \
         timecodeparse source=meta reference-time=2026-01-01T12:00:00Z timeline=timecode ! \
         x264enc speed-preset=ultrafast tune=zerolatency key-int-max=1000 pass=quant quantizer=30 threads=1 ! \
         video/x-h264,profile=constrained-baseline"
    )
}

#[derive(Default)]
struct Run {
    segments: Vec<gst::Structure>,
    manifests: Vec<gst::Structure>,
    /// (k, file name) → text, read in the streaming thread right after the update.
    snapshots: BTreeMap<(i64, String), String>,
    warnings: Vec<String>,
    error: Option<String>,
    /// The EOS reached the sink pad (also when it was dropped there).
    eos: bool,
}

/// Runs `launch` (ending in an `hlsdashsink name=sink`) to EOS or error. With
/// `drop_eos`, the EOS is dropped at the sink's pad (a packager stopped without finishing).
fn run(launch: &str, drop_eos: bool) -> Run {
    run_with(launch, drop_eos, |_| {})
}

/// [`run`], with `setup` applied to the pipeline before it starts.
fn run_with(launch: &str, drop_eos: bool, setup: impl FnOnce(&gst::Pipeline)) -> Run {
    init();
    let pipeline = gst::parse::launch(launch)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    setup(&pipeline);
    let sink = pipeline.by_name("sink").expect("an hlsdashsink named sink");
    let location = PathBuf::from(sink.property::<Option<String>>("location").unwrap());
    let result: Arc<Mutex<Run>> = Arc::default();
    let snapshots = result.clone();
    pipeline.bus().unwrap().set_sync_handler(move |_, message| {
        if let gst::MessageView::Element(e) = message.view()
            && let Some(s) = e.structure()
            && s.name() == "hlsdashsink-manifest"
        {
            // The sink posts after writing and before going on: the files are this update's.
            let k = s.get::<i64>("k").unwrap();
            let names = s.get::<gst::Array>("locations").unwrap();
            let mut run = snapshots.lock().unwrap();
            for name in names.iter() {
                let name = name.get::<String>().unwrap();
                let text = std::fs::read_to_string(location.join(&name)).unwrap();
                // The first update listing k (EOS rewrites the last one with ENDLIST).
                run.snapshots.entry((k, name)).or_insert(text);
            }
        }
        gst::BusSyncReply::Pass
    });
    let (eos_sender, eos_receiver) = std::sync::mpsc::channel::<()>();
    let eos_flag = result.clone();
    // Stopping without EOS: the EOS is held by a blocking probe and never reaches the sink;
    // setting the pipeline to NULL then flushes it away (a probe returning Drop trips a
    // GStreamer-CRITICAL in the bindings on 1.22).
    let probe_type = if drop_eos {
        gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BLOCK
    } else {
        gst::PadProbeType::EVENT_DOWNSTREAM
    };
    sink.static_pad("sink")
        .unwrap()
        .add_probe(probe_type, move |_, info| {
            if let Some(gst::EventView::Eos(_)) = info.event().map(|e| e.view()) {
                eos_flag.lock().unwrap().eos = true;
                let _ = eos_sender.send(());
                // Blocks here with a BLOCK probe, passes otherwise.
                return gst::PadProbeReturn::Ok;
            }
            gst::PadProbeReturn::Pass
        });
    // Audio pads: a stopped packager still receives their EOS (its audio ends before the
    // stop), so what it published is complete up to the video's last segment.
    // The probe sits on the internal appsink, after the sink's own EOS handling (probes run
    // in the order they were added).
    let audio_pads: Vec<gst::Pad> = sink
        .sink_pads()
        .into_iter()
        .filter(|p| p.name().starts_with("audio_"))
        .map(|p| {
            sink.downcast_ref::<gst::Bin>()
                .unwrap()
                .by_name(&format!("{}-appsink", p.name()))
                .expect("the audio pad's appsink")
                .static_pad("sink")
                .unwrap()
        })
        .collect();
    let (audio_sender, audio_receiver) = std::sync::mpsc::channel::<()>();
    for pad in &audio_pads {
        let sender = audio_sender.clone();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::EventView::Eos(_)) = info.event().map(|e| e.view()) {
                let _ = sender.send(());
            }
            gst::PadProbeReturn::Pass
        });
    }
    let mut audio_eos = 0;
    let mut video_eos = false;
    // A configuration error fails the state change; its error message is on the bus.
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if drop_eos {
            video_eos |= eos_receiver.try_recv().is_ok();
            while audio_receiver.try_recv().is_ok() {
                audio_eos += 1;
            }
            if video_eos && audio_eos == audio_pads.len() {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "pipeline timed out");
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            continue;
        };
        let mut run = result.lock().unwrap();
        match message.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                run.error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => {
                run.warnings
                    .push(format!("{} ({:?})", w.error(), w.debug()))
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    match s.name().as_str() {
                        "hlsdashsink-segment" => run.segments.push(s.to_owned()),
                        "hlsdashsink-manifest" => run.manifests.push(s.to_owned()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("stops");
    // Messages still queued (those posted right before EOS).
    let mut run = std::mem::take(&mut *result.lock().unwrap());
    while let Some(message) = bus.pop() {
        if let gst::MessageView::Element(e) = message.view()
            && let Some(s) = e.structure()
        {
            match s.name().as_str() {
                "hlsdashsink-segment" => run.segments.push(s.to_owned()),
                "hlsdashsink-manifest" => run.manifests.push(s.to_owned()),
                _ => {}
            }
        }
    }
    run
}

fn parse_media(text: &str) -> m3u8_rs::MediaPlaylist {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) => playlist,
        other => panic!("not a media playlist: {other:?}\n{text}"),
    }
}

fn assert_schema_valid(mpd: &str) {
    let mut child = Command::new("xmllint")
        .args(["--noout", "--schema", SCHEMA, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint must be installed (Debian package libxml2-utils; scripts/setup.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(mpd.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "MPD does not validate against the DASH schema:\n{}\n{mpd}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Init segment + media segments `ks` concatenated into one MP4 file.
fn concatenate(dir: &Path, ks: impl Iterator<Item = i64>) -> PathBuf {
    let mut bytes = std::fs::read(dir.join("video_init.mp4")).expect("init segment");
    for k in ks {
        bytes.extend(std::fs::read(dir.join(format!("video_{k}.m4s"))).expect("segment"));
    }
    let path = dir.join("all.mp4");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Frames GStreamer decodes from an MP4 file (qtdemux ! avdec_h264).
fn decoded_frames(path: &Path) -> (usize, Vec<u64>) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! appsink name=out sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let appsink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let pts: Arc<Mutex<Vec<u64>>> = Arc::default();
    let pts_cb = pts.clone();
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().unwrap();
                pts_cb
                    .lock()
                    .unwrap()
                    .push(buffer.pts().map_or(u64::MAX, |p| p.nseconds()));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("playback finishes");
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "playback: {message:?}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
    let pts = pts.lock().unwrap().clone();
    (pts.len(), pts)
}

/// (pts seconds, key frame) of every frame, by ffprobe.
fn ffprobe_frames(path: &Path) -> Vec<(f64, bool)> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time,key_frame",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe must be installed (Debian package ffmpeg; scripts/setup.sh)");
    assert!(output.status.success(), "ffprobe failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut fields = line.split(',');
            let key = fields.next().unwrap() == "1";
            let pts: f64 = fields.next().unwrap().parse().unwrap();
            (pts, key)
        })
        .collect()
}

/// The files `names` are byte-identical in both directories.
/// Segments `ks` (25 fps, 1 s, complete) joined behind the init segment: ffprobe sees every
/// frame at its UTC instant on the epoch grid with a keyframe opening every segment, and
/// GStreamer decodes every frame with continuous timestamps.
fn assert_segments_play(dir: &Path, ks: std::ops::Range<i64>) {
    let frames_expected = (ks.end - ks.start) as usize * 25;
    let first_s = ks.start as f64;
    let joined = concatenate(dir, ks);
    let probed = ffprobe_frames(&joined);
    assert_eq!(probed.len(), frames_expected);
    for (i, (pts, key)) in probed.iter().enumerate() {
        let expected = first_s + i as f64 * 0.04;
        assert!(
            (pts - expected).abs() < 1e-3,
            "frame {i}: {pts} vs {expected}"
        );
        assert_eq!(*key, i % 25 == 0, "frame {i}: keyframes open segments only");
    }
    let (decoded, pts) = decoded_frames(&joined);
    assert_eq!(decoded, frames_expected, "GStreamer decodes every frame");
    assert!(pts.windows(2).all(|w| w[1] == w[0] + 40_000_000), "{pts:?}");
}

fn assert_same_files(dir_a: &Path, dir_b: &Path, names: impl IntoIterator<Item = String>) {
    for name in names {
        assert_eq!(
            std::fs::read(dir_a.join(&name)).unwrap(),
            std::fs::read(dir_b.join(&name)).unwrap(),
            "{name} byte-identical"
        );
    }
}

fn sink_props(dir: &Path, extra: &str) -> String {
    format!(
        "hlsdashsink name=sink location={} segment-duration=1000000000 playlist-length=3 {extra}",
        dir.display()
    )
}

#[test]
fn live_stream_manifests_segments_and_playback() {
    let dir = out_dir("live");
    let run = run(
        &format!(
            "{} ! {}",
            source("10:00:00:00", 150),
            sink_props(&dir, "storage-manifest=true max-files=4")
        ),
        false,
    );
    assert_eq!(run.error, None);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);

    // One segment per second of timecode, named and numbered by k = UTC seconds.
    let ks: Vec<i64> = run.segments.iter().map(|s| s.get("k").unwrap()).collect();
    assert_eq!(ks, (K0..K0 + 6).collect::<Vec<_>>());
    for (i, segment) in run.segments.iter().enumerate() {
        assert_eq!(
            segment.get::<String>("location").unwrap(),
            format!("video_{}.m4s", K0 + i as i64)
        );
        assert_eq!(segment.get::<u32>("frames").unwrap(), 25);
        assert_eq!(
            segment.get::<String>("first-timecode").unwrap(),
            format!("10:00:0{i}:00")
        );
        assert_eq!(
            segment.get::<String>("last-timecode").unwrap(),
            format!("10:00:0{i}:24")
        );
        assert_eq!(
            segment.get::<i64>("first-utc-ns").unwrap(),
            T0_NS + i as i64 * 1_000_000_000
        );
        assert_eq!(
            segment.get::<gst::ClockTime>("duration").unwrap(),
            gst::ClockTime::SECOND
        );
    }

    // Every live update: the window of the last 3 segments, PDT from the timecode.
    for k in K0..K0 + 6 {
        let text = &run.snapshots[&(k, "video.m3u8".to_owned())];
        let playlist = parse_media(text);
        let first = (k - 2).max(K0);
        assert_eq!(playlist.media_sequence, first as u64, "{text}");
        assert_eq!(playlist.target_duration, 1);
        assert_eq!(playlist.version, Some(6));
        assert!(!playlist.end_list);
        assert!(playlist.playlist_type.is_none(), "live: no PLAYLIST-TYPE");
        assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
        assert_eq!(playlist.segments.len() as i64, k - first + 1);
        for (i, segment) in playlist.segments.iter().enumerate() {
            let kk = first + i as i64;
            assert_eq!(segment.uri, format!("video_{kk}.m4s"));
            assert_eq!(segment.duration, 1.0);
            let pdt = segment.program_date_time.expect("PDT on every segment");
            assert_eq!(pdt.timestamp(), kk, "PDT = the timecode's UTC second");
            assert_eq!(
                segment.map.as_ref().map(|m| m.uri.as_str()),
                (i == 0).then_some("video_init.mp4")
            );
        }
        assert!(text.contains(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:0{}.000Z\n",
            first - K0
        )));

        let mpd = &run.snapshots[&(k, "manifest.mpd".to_owned())];
        assert_schema_valid(mpd);
        let doc = roxmltree::Document::parse(mpd).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("type"), Some("dynamic"));
        assert_eq!(
            root.attribute("availabilityStartTime"),
            Some("1970-01-01T00:00:00Z"),
            "AST: the epoch anchor"
        );
        assert_eq!(
            root.attribute("publishTime"),
            Some(format!("2026-01-01T10:00:0{}Z", k - K0 + 1).as_str()),
            "publishTime: the end of the last segment, from media time"
        );
        assert_eq!(root.attribute("timeShiftBufferDepth"), Some("PT3S"));
        let template = doc
            .descendants()
            .find(|n| n.has_tag_name("SegmentTemplate"))
            .unwrap();
        assert_eq!(template.attribute("startNumber"), Some("0"));
        assert_eq!(template.attribute("duration"), Some("90000"));
        assert_eq!(
            template.attribute("media"),
            Some("$RepresentationID$_$Number$.m4s")
        );
        let utc_timing = doc
            .descendants()
            .find(|n| n.has_tag_name("UTCTiming"))
            .unwrap();
        assert_eq!(
            utc_timing.attribute("schemeIdUri"),
            Some("urn:mpeg:dash:utc:http-iso:2014")
        );
        let representation = doc
            .descendants()
            .find(|n| n.has_tag_name("Representation"))
            .unwrap();
        assert_eq!(representation.attribute("codecs"), Some("avc1.42c00c"));
        assert_eq!(representation.attribute("width"), Some("320"));
    }

    // EOS: final manifests.
    let final_playlist = std::fs::read_to_string(dir.join("video.m3u8")).unwrap();
    let parsed = parse_media(&final_playlist);
    assert!(parsed.end_list, "{final_playlist}");
    assert_eq!(parsed.media_sequence, (K0 + 3) as u64);
    let final_mpd = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert_schema_valid(&final_mpd);
    let doc = roxmltree::Document::parse(&final_mpd).unwrap();
    assert_eq!(doc.root_element().attribute("type"), Some("static"));
    assert_eq!(
        doc.root_element().attribute("mediaPresentationDuration"),
        Some("PT3S")
    );
    let multivariant = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    match m3u8_rs::parse_playlist_res(multivariant.as_bytes()) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(master)) => {
            assert_eq!(master.variants.len(), 1);
            assert_eq!(master.variants[0].uri, "video.m3u8");
            assert_eq!(master.variants[0].codecs.as_deref(), Some("avc1.42c00c"));
        }
        other => panic!("not a multivariant playlist: {other:?}"),
    }

    // max-files=4: the two oldest segments are gone, the rest are on disk; no temporary
    // file is left behind.
    for k in K0..K0 + 6 {
        assert_eq!(
            dir.join(format!("video_{k}.m4s")).exists(),
            k >= K0 + 2,
            "segment {k}"
        );
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left over: {name}");
    }

    // Storage index: the kept segments with their real sizes and SHA-256.
    let storage: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("storage.json")).unwrap()).unwrap();
    let entries = storage["segments"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(entry["size_bytes"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(
            entry["sha256"].as_str().unwrap(),
            gstlockstep::packaging::storage::sha256_hex(&bytes)
        );
        let k = entry["k"].as_i64().unwrap();
        assert_eq!(
            entry["first_timecode"].as_str().unwrap(),
            format!("10:00:0{}:00", k - K0)
        );
    }

    // The kept segments play: keyframe first in every segment, continuous timestamps equal
    // to the frames' UTC instants, every frame decodes.
    assert_segments_play(&dir, K0 + 2..K0 + 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two packagers on two encoder branches of the same timecoded source, the second started
/// 2.5 segments later (inside a segment): from its first complete window on, every playlist
/// and MPD it writes is byte-identical to the first packager's for the same last segment, and
/// so are the segments.
#[test]
fn redundant_packagers_write_identical_output() {
    let dir_a = out_dir("redundant-a");
    let dir_b = out_dir("redundant-b");
    let extra = "storage-manifest=true max-files=0 segment-timeline=true";
    let a = run(
        &format!(
            "{} ! {}",
            source("10:00:00:00", 200),
            sink_props(&dir_a, extra)
        ),
        false,
    );
    let b = run(
        &format!(
            "{} ! {}",
            source("10:00:02:12", 138),
            sink_props(&dir_b, extra)
        ),
        false,
    );
    assert_eq!(a.error, None);
    assert_eq!(b.error, None);
    // B joined inside segment K0+2: it skips it and starts at K0+3, whose first frame is a
    // keyframe because hlsdashsink asked the encoder for one (force-key-unit).
    let b_ks: Vec<i64> = b.segments.iter().map(|s| s.get("k").unwrap()).collect();
    assert_eq!(b_ks, (K0 + 3..K0 + 8).collect::<Vec<_>>());
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    for k in K0 + 5..K0 + 8 {
        for name in ["video.m3u8", "manifest.mpd"] {
            assert_eq!(
                a.snapshots[&(k, name.to_owned())],
                b.snapshots[&(k, name.to_owned())],
                "{name} after segment {k}"
            );
        }
    }
    assert_same_files(
        &dir_a,
        &dir_b,
        (K0 + 3..K0 + 8).map(|k| format!("video_{k}.m4s")),
    );
    assert_same_files(
        &dir_a,
        &dir_b,
        ["video.m3u8", "manifest.mpd", "index.m3u8", "video_init.mp4"].map(String::from),
    );
    // The storage indexes agree on every segment both hold.
    let index = |dir: &Path| -> BTreeMap<i64, String> {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("storage.json")).unwrap())
                .unwrap();
        json["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["k"].as_i64().unwrap(),
                    s["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (index_a, index_b) = (index(&dir_a), index(&dir_b));
    for (k, digest) in &index_b {
        assert_eq!(index_a.get(k), Some(digest), "segment {k}");
    }
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// A packager stopped without EOS after segment K0+2 (12 frames of K0+3 lost) and started
/// again at K0+3 in the same directory: it lists its earlier segments again, its media
/// sequence never decreases, and from its first segment after the restart its manifests are
/// byte-identical to those of a packager that ran all along.
#[test]
fn restarted_packager_matches_again() {
    restart(false);
}

/// [`source`] whose timecode jumps `jump` frames forward from its frame `at` on, as when a
/// router upstream cuts to a source whose timecode is ahead: a probe moves the timecode meta,
/// and `timecodeparse resync=every-frame` follows it.
fn jumping_source(start: &str, frames: u32) -> String {
    source(start, frames)
        .replace("timecodestamper ", "timecodestamper name=stamper ")
        .replace(
            "timecodeparse source=meta",
            "timecodeparse source=meta resync=every-frame",
        )
}

fn add_jump(pipeline: &gst::Pipeline, at: u32, jump: i64) {
    let stamper = pipeline
        .by_name("stamper")
        .expect("the source's timecodestamper");
    let count = std::sync::atomic::AtomicU32::new(0);
    stamper
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let index = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if index >= at
                && let Some(buffer) = info.buffer_mut()
                && let Some(mut meta) = buffer.make_mut().meta_mut::<gst_video::VideoTimeCodeMeta>()
            {
                let mut tc = meta.tc();
                tc.add_frames(jump);
                meta.set_tc(tc);
            }
            gst::PadProbeReturn::Ok
        });
}

/// A forward timecode jump upstream (frame 30 of the source is labelled 10:00:03:05): the
/// segment it cuts short is published with its real 5 frames and a warning, the segments
/// it skips are EXT-X-GAP, and with `discontinuity-on-jump=true` the first segment after it
/// carries EXT-X-DISCONTINUITY, counted in EXT-X-DISCONTINUITY-SEQUENCE once it leaves the
/// window. The segments after the jump decode with the new timecode's instants, the MPD
/// stays schema-valid, and a packager restarted after the jump writes the same playlists
/// and MPD as one that ran through it.
#[test]
fn a_timecode_jump_is_a_discontinuity() {
    let dir_a = out_dir("jump-a");
    let dir_b = out_dir("jump-b");
    let extra = "playlist-length=5 discontinuity-on-jump=true";
    let a = run_with(
        &format!(
            "{} ! {}",
            jumping_source("10:00:00:00", 200),
            sink_props(&dir_a, extra)
        ),
        false,
        |pipeline| add_jump(pipeline, 30, 50),
    );
    assert_eq!(a.error, None);
    let ks: Vec<i64> = a.segments.iter().map(|s| s.get("k").unwrap()).collect();
    assert_eq!(ks, [0, 1, 4, 5, 6, 7, 8, 9].map(|k| K0 + k));
    let frames: Vec<u32> = a
        .segments
        .iter()
        .map(|s| s.get("frames").unwrap())
        .collect();
    assert_eq!(frames, [25, 5, 25, 25, 25, 25, 25, 25]);
    let jump_warnings: Vec<&String> = a
        .warnings
        .iter()
        .filter(|w| w.contains("jumped forward"))
        .collect();
    assert_eq!(jump_warnings.len(), 1, "{:?}", a.warnings);
    assert!(
        jump_warnings[0].contains(&format!("segment {} ends after 5 frames", K0 + 1))
            && jump_warnings[0].contains("EXT-X-DISCONTINUITY"),
        "{}",
        jump_warnings[0]
    );
    // After K0+4: K0, K0+1 (0.2 s), two gaps, then the new discontinuity domain.
    let text = &a.snapshots[&(K0 + 4, "video.m3u8".to_owned())];
    let playlist = parse_media(text);
    assert_eq!(playlist.media_sequence, K0 as u64);
    assert_eq!(playlist.discontinuity_sequence, 0);
    let entries: Vec<(bool, bool, f32)> = playlist
        .segments
        .iter()
        .map(|s| {
            let gap = s.unknown_tags.iter().any(|t| t.tag.contains("GAP"));
            (s.discontinuity, gap, s.duration)
        })
        .collect();
    assert_eq!(
        entries,
        [
            (false, false, 1.0),
            (false, false, 0.2),
            (false, true, 1.0),
            (false, true, 1.0),
            (true, false, 1.0)
        ],
        "{text}"
    );
    let pdt = playlist.segments[4].program_date_time.unwrap();
    assert_eq!(pdt.timestamp_nanos_opt().unwrap(), T0_NS + 4_000_000_000);
    assert_schema_valid(&a.snapshots[&(K0 + 4, "manifest.mpd".to_owned())]);
    // Once K0+4 heads the window the tag is gone and the count stays in the header.
    for k in [K0 + 8, K0 + 9] {
        let playlist = parse_media(&a.snapshots[&(k, "video.m3u8".to_owned())]);
        assert_eq!(playlist.media_sequence, (k - 4) as u64);
        assert_eq!(playlist.discontinuity_sequence, 1);
        assert!(playlist.segments.iter().all(|s| !s.discontinuity));
    }
    // The segments after the jump decode, every frame at the jumped timecode's instant.
    assert_segments_play(&dir_a, K0 + 4..K0 + 10);
    // B ran through the jump, was stopped without EOS inside K0+6 and restarted at K0+6.
    let first = run_with(
        &format!(
            "{} ! {}",
            jumping_source("10:00:00:00", 120),
            sink_props(&dir_b, extra)
        ),
        true,
        |pipeline| add_jump(pipeline, 30, 50),
    );
    assert_eq!(first.error, None);
    let second = run(
        &format!(
            "{} ! {}",
            source("10:00:06:00", 100),
            sink_props(&dir_b, extra)
        ),
        false,
    );
    assert_eq!(second.error, None);
    assert_same_updates(
        &a,
        &second,
        K0 + 6..K0 + 10,
        &["video.m3u8", "manifest.mpd"],
    );
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// The output of a forward timecode jump (vod) plays past the jump: in hls.js a 0.2 s segment,
/// EXT-X-GAP segments, EXT-X-DISCONTINUITY, then the segments after the jump, with no player
/// error and the timecode's program-date-time; with `segment-timeline=true` the MPD begins a
/// new Period after the hole, and dash.js and Shaka Player play it to the end (dash.js 5.2
/// stops at a hole inside one SegmentTimeline).
#[test]
fn a_timecode_jump_plays_in_hls_js_dash_js_and_shaka() {
    let dir = out_dir("jump-play");
    let run = run_with(
        &format!(
            "{} ! {}",
            jumping_source("10:00:00:00", 200).replace("pattern=colors", "pattern=ball"),
            sink_props(
                &dir,
                "playlist-type=vod max-files=0 discontinuity-on-jump=true segment-timeline=true"
            )
        ),
        false,
        |pipeline| add_jump(pipeline, 30, 50),
    );
    assert_eq!(run.error, None);
    let playlist = std::fs::read_to_string(dir.join("video.m3u8")).unwrap();
    assert!(playlist.contains("#EXT-X-GAP\n") && playlist.contains("#EXT-X-DISCONTINUITY\n"));
    // The jump is 1.2 s in; 5 s of playback crosses it.
    let result = play_in_chromium(&dir, "hls", 5);
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert!(
        result["played"].as_f64().unwrap() >= 5.0,
        "hls.js plays past the jump: {result}"
    );
    assert_eq!(
        result["programDateTime"].as_i64(),
        Some(T0_NS / 1_000_000),
        "hls.js sees the timecode's instant: {result}"
    );
    let mpd = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert_schema_valid(&mpd);
    let document = roxmltree::Document::parse(&mpd).unwrap();
    let periods: Vec<_> = document
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("Period"))
        .collect();
    let first_after = periods
        .last()
        .unwrap()
        .descendants()
        .find(|n| n.has_tag_name("SegmentTemplate"))
        .and_then(|t| t.attribute("startNumber"))
        .unwrap()
        .to_owned();
    assert_eq!(periods.len(), 2, "a Period after the hole: {mpd}");
    assert_eq!(
        periods[1].attribute("id"),
        Some(format!("p{first_after}").as_str()),
        "the Period is named after its first segment"
    );
    // 200 frames at 25 fps, 50 skipped: the presentation ends 10 s after its first frame.
    let end = document
        .root_element()
        .attribute("mediaPresentationDuration")
        .unwrap()
        .to_owned();
    for player in ["dash", "shaka"] {
        let result = play_in_chromium(&dir, player, "end");
        assert_eq!(
            result["errors"],
            serde_json::json!([]),
            "{player}: {result}"
        );
        assert_eq!(
            result["ended"], true,
            "{player} plays past the hole to the end: {result}"
        );
        let time = result["currentTime"].as_f64().unwrap();
        assert!(time > 8.0, "{player} ends at the end ({end}): {result}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn restart(audio: bool) {
    let dir_a = out_dir(if audio {
        "restart-audio-a"
    } else {
        "restart-a"
    });
    let dir_b = out_dir(if audio {
        "restart-audio-b"
    } else {
        "restart-b"
    });
    let launch = |start: &str, frames: u32, dir: &Path| {
        if audio {
            source_with_audio(start, frames, &sink_props(dir, ""))
        } else {
            format!("{} ! {}", source(start, frames), sink_props(dir, ""))
        }
    };
    let a = run(&launch("10:00:00:00", 200, &dir_a), false);
    let first = run(&launch("10:00:00:00", 87, &dir_b), true);
    assert!(first.eos, "{:?}", first.error);
    assert_eq!(first.error, None);
    let published: Vec<i64> = first
        .segments
        .iter()
        .filter(|s| s.get::<String>("representation").unwrap() == "video")
        .map(|s| s.get("k").unwrap())
        .collect();
    assert_eq!(published, vec![K0, K0 + 1, K0 + 2]);
    let playlist = if audio { "audio_0.m3u8" } else { "video.m3u8" };
    let before = parse_media(&std::fs::read_to_string(dir_b.join(playlist)).unwrap());
    assert!(!before.end_list, "stopped, not finished");
    let second = run(&launch("10:00:03:00", 125, &dir_b), false);
    assert_eq!(second.error, None);
    let names: &[&str] = if audio {
        &["video.m3u8", "audio_0.m3u8", "manifest.mpd"]
    } else {
        &["video.m3u8", "manifest.mpd"]
    };
    assert_same_updates(&a, &second, K0 + 3..K0 + 8, names);
    let mut last_sequence = before.media_sequence;
    for ((_, name), text) in &second.snapshots {
        if name == playlist {
            let sequence = parse_media(text).media_sequence;
            assert!(sequence >= last_sequence, "media sequence never decreases");
            last_sequence = sequence;
        }
    }
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// A packager restarted over a storage index it cannot read (cut short by a crash, or garbage)
/// warns, rebuilds the index from the segment files and goes on publishing: no error, nothing
/// lost, every listed segment's size and SHA-256 right.
#[test]
fn corrupt_storage_index_at_restart_is_a_warning_and_a_rebuild() {
    for (case, corrupt) in [
        (
            "truncated",
            (|text: &str| text[..text.len() / 2].to_owned()) as fn(&str) -> String,
        ),
        ("garbage", |_: &str| "\u{0}\u{7f}not json at all".to_owned()),
    ] {
        let dir = out_dir(&format!("corrupt-index-{case}"));
        let launch = |start: &str, frames: u32| {
            format!(
                "{} ! {}",
                source(start, frames),
                sink_props(&dir, "storage-manifest=true")
            )
        };
        let first = run(&launch("10:00:00:00", 87), true);
        assert_eq!(first.error, None);
        let index_path = dir.join("storage.json");
        let text = std::fs::read_to_string(&index_path).expect("an index was written");
        std::fs::write(&index_path, corrupt(&text)).unwrap();

        let second = run(&launch("10:00:03:00", 75), false);
        assert_eq!(second.error, None, "{case}: the packager goes on");
        assert!(
            second
                .warnings
                .iter()
                .any(|w| w.contains("storage index storage.json") && w.contains("rebuilt")),
            "{case}: a warning names the index: {:?}",
            second.warnings
        );
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap())
                .expect("the rebuilt index is JSON");
        let entries = index["segments"].as_array().unwrap();
        let ks: Vec<i64> = entries.iter().map(|e| e["k"].as_i64().unwrap()).collect();
        assert_eq!(ks, (K0..K0 + 6).collect::<Vec<_>>(), "{case}: nothing lost");
        for entry in entries {
            let bytes = std::fs::read(dir.join(entry["name"].as_str().unwrap())).unwrap();
            assert_eq!(entry["size_bytes"].as_u64().unwrap(), bytes.len() as u64);
            assert_eq!(
                entry["sha256"].as_str().unwrap(),
                gstlockstep::packaging::storage::sha256_hex(&bytes)
            );
            assert_eq!(entry["frames"].as_u64().unwrap(), 25);
            let k = entry["k"].as_i64().unwrap();
            assert_eq!(
                entry["first_frame_utc_ns"].as_i64().unwrap(),
                T0_NS + (k - K0) * 1_000_000_000
            );
            assert_eq!(
                entry["last_frame_utc_ns"].as_i64().unwrap(),
                T0_NS + (k - K0) * 1_000_000_000 + 960_000_000
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An application that requests the next audio pad from its `pad-added` handler (a common
/// pattern: one audio pad per demuxed track) gets it: the request re-enters the element while
/// it adds the first pad, and must not wait for a lock the first request holds.
#[test]
fn audio_pad_requested_from_pad_added_does_not_deadlock() {
    init();
    let sink = gst::ElementFactory::make("hlsdashsink").build().unwrap();
    sink.connect_pad_added(|sink, pad| {
        if pad.name() == "audio_0" {
            let next = sink.request_pad_simple("audio_%u");
            assert_eq!(
                next.map(|p| p.name().to_string()),
                Some("audio_1".to_owned())
            );
        }
    });
    let (done, finished) = std::sync::mpsc::channel();
    let worker = sink.clone();
    std::thread::spawn(move || {
        let first = worker.request_pad_simple("audio_%u");
        let _ = done.send(first.map(|p| p.name().to_string()));
    });
    let first = finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the request returns (no deadlock)");
    assert_eq!(first.as_deref(), Some("audio_0"));
    let mut names: Vec<String> = sink
        .sink_pads()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["audio_0", "audio_1", "sink"]);
}

#[test]
fn configuration_errors_name_the_problem() {
    // Not a directory: the error names the path.
    let file = std::env::temp_dir().join(format!("lockstep-hds-{}-file", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let run_error = |props: String| {
        run(&format!("{} ! {props}", source("10:00:00:00", 30)), false)
            .error
            .expect("an error")
    };
    let error = run_error(format!("hlsdashsink name=sink location={}", file.display()));
    assert!(
        error.contains(&file.display().to_string()) && error.contains("not a directory"),
        "{error}"
    );
    let _ = std::fs::remove_file(&file);

    // A duration that is not a whole number of frames at 25 fps (25.5 frames).
    let dir = out_dir("errors");
    let error = run_error(format!(
        "hlsdashsink name=sink location={} segment-duration=1020000000",
        dir.display()
    ));
    assert!(
        error.contains("25.50 frames") && error.contains("use 1.04 s"),
        "{error}"
    );
    // A live window shorter than 3 target durations.
    let error = run_error(format!(
        "hlsdashsink name=sink location={} segment-duration=1000000000 playlist-length=2",
        dir.display()
    ));
    assert!(error.contains("playlist-length 2 is too short"), "{error}");
    // max-files below the window would delete listed segments.
    let error = run_error(format!(
        "hlsdashsink name=sink location={} segment-duration=1000000000 max-files=4",
        dir.display()
    ));
    assert!(
        error.contains("max-files 4 is smaller than playlist-length 5"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A segment name taken by a directory makes the write fail mid-stream: the element error
/// names the path, and the manifests published before stay in place and valid.
#[test]
fn write_failure_keeps_what_was_published() {
    let dir = out_dir("write-failure");
    let blocker = dir.join(format!("video_{}.m4s", K0 + 3));
    std::fs::create_dir_all(blocker.join("occupied")).unwrap();
    let run = run(
        &format!("{} ! {}", source("10:00:00:00", 150), sink_props(&dir, "")),
        false,
    );
    let error = run.error.expect("a write error");
    assert!(error.contains(&blocker.display().to_string()), "{error}");
    let playlist = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
    assert_eq!(
        playlist.segments.last().unwrap().uri,
        format!("video_{}.m4s", K0 + 2)
    );
    for segment in &playlist.segments {
        assert!(
            dir.join(&segment.uri).is_file(),
            "{} listed and present",
            segment.uri
        );
    }
    assert_schema_valid(&std::fs::read_to_string(dir.join("manifest.mpd")).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Disk full (a 1 MiB tmpfs): the element error names the path and says why; every listed
/// segment is complete on disk and no temporary file is left. Needs root for the mount.
#[test]
fn disk_full_is_a_clear_error() {
    struct Mount(PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = out_dir("disk-full");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount runs");
    assert!(
        status.success(),
        "this test mounts a small tmpfs and needs root (scripts/test.sh runs as root)"
    );
    let _mount = Mount(dir.clone());
    let run = run(
        &format!(
            "{} ! {}",
            // Snow: incompressible, so the disk fills within a few segments.
            source("10:00:00:00", 250).replace("pattern=colors", "pattern=snow"),
            sink_props(&dir, "max-files=0")
        ),
        false,
    );
    let error = run.error.expect("a write error");
    assert!(
        error.contains(&dir.display().to_string()) && error.contains("No space left"),
        "{error}"
    );
    let playlist = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
    assert!(!playlist.segments.is_empty());
    let sizes: BTreeMap<String, u64> = run
        .segments
        .iter()
        .map(|s| {
            (
                s.get::<String>("location").unwrap(),
                s.get::<u64>("size").unwrap(),
            )
        })
        .collect();
    for segment in &playlist.segments {
        let on_disk = std::fs::metadata(dir.join(&segment.uri)).unwrap().len();
        assert_eq!(Some(&on_disk), sizes.get(&segment.uri), "{}", segment.uri);
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left over: {name}");
    }
}

/// `gst-launch-1.0 <launch>` with this build's plugin, killed with the test thread if it dies.
fn spawn_gst_launch(launch: &str, plugin_dir: &Path) -> std::process::Child {
    let mut command = Command::new("gst-launch-1.0");
    command
        .args(launch.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the child dies with the spawning thread, so an
    // aborted test leaves no writer running.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().expect("gst-launch-1.0 runs")
}

/// The directory of the plugin library gst-launch-1.0 loads. `cargo test` builds the crate as an
/// rlib for the tests, not necessarily the cdylib: build it when it is missing.
fn plugin_dir() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug");
    BUILD.call_once(|| {
        if !dir.join("libgstlockstep.so").exists() {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--lib", "--manifest-path"])
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build --lib builds the plugin");
        }
    });
    assert!(
        dir.join("libgstlockstep.so").exists(),
        "the plugin library is in target/debug"
    );
    dir
}

/// kill -9 of a gst-launch-1.0 writing short segments, at several moments, while a reader
/// reads the manifests as fast as it can: every read parses (never a half-written file).
#[test]
fn kill_during_writing_never_exposes_a_partial_manifest() {
    init();
    let plugin_dir = plugin_dir();
    let dir = out_dir("kill");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reads = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let (dir, stop, reads) = (dir.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(dir.join("video.m3u8")) {
                    let playlist = parse_media(&text);
                    assert!(!playlist.segments.is_empty());
                    reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if let Ok(text) = std::fs::read_to_string(dir.join("manifest.mpd")) {
                    roxmltree::Document::parse(&text).expect("a whole MPD");
                    reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
    };
    for (round, wait_ms) in [1000u64, 1300, 1600].into_iter().enumerate() {
        // 0.5 s segments (25 frames at 50 fps), real time: an update every 500 ms.
        let launch = format!(
            "videotestsrc is-live=true pattern=smpte ! \
             video/x-raw,format=I420,width=160,height=96,framerate=50/1 ! \
             timecodestamper set-internal-timecode=10:00:0{round}:00 ! \
             timecodeparse source=meta reference-time=2026-01-01T12:00:00Z timeline=timecode ! \
             x264enc speed-preset=ultrafast tune=zerolatency key-int-max=1000 bitrate=300 ! \
             hlsdashsink location={} segment-frames=25 playlist-length=6 max-files=8",
            dir.display()
        );
        let mut child = spawn_gst_launch(&launch, &plugin_dir);
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        // SIGKILL: no cleanup of any kind.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().expect("every read parsed");
    assert!(
        reads.load(std::sync::atomic::Ordering::Relaxed) > 10,
        "the reader read manifests"
    );
    // What is on disk after the last kill is whole too.
    let text = std::fs::read_to_string(dir.join("video.m3u8")).unwrap();
    let playlist = parse_media(&text);
    for segment in &playlist.segments {
        let gap = text.contains(&format!("#EXT-X-GAP\n#EXTINF:0.500000,\n{}\n", segment.uri));
        assert!(
            gap || dir.join(&segment.uri).is_file(),
            "{} listed but missing:\n{:?}",
            segment.uri,
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// B-frames (x264 bframes=2): segments still cut on the grid, every frame decodes, and
/// presentation times are the frames' UTC instants, continuous across segments.
#[test]
fn b_frames_play_back_in_presentation_order() {
    let dir = out_dir("bframes");
    let launch = format!(
        "{} ! {}",
        source("10:00:00:00", 100).replace("tune=zerolatency", "bframes=2 b-adapt=false"),
        sink_props(&dir, "playlist-type=vod max-files=0")
    );
    let run = run(&launch, false);
    assert_eq!(run.error, None);
    let ks: Vec<i64> = run.segments.iter().map(|s| s.get("k").unwrap()).collect();
    assert_eq!(ks, (K0..K0 + 4).collect::<Vec<_>>());
    // vod: manifests only at EOS.
    assert_eq!(run.manifests.len(), 1);
    let playlist = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
    assert_eq!(
        playlist.playlist_type,
        Some(m3u8_rs::MediaPlaylistType::Vod)
    );
    assert!(playlist.end_list);
    let all = concatenate(&dir, K0..K0 + 4);
    let frames = ffprobe_frames(&all);
    assert_eq!(frames.len(), 100);
    let (count, pts) = decoded_frames(&all);
    assert_eq!(count, 100);
    for (i, pts) in pts.iter().enumerate() {
        assert_eq!(*pts as i64, T0_NS + i as i64 * 40_000_000, "frame {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `tests/player/play.mjs` reports after playing in headless Chromium.
fn play_in_chromium(
    dir: &Path,
    player: &str,
    seconds: impl std::fmt::Display,
) -> serde_json::Value {
    play_in_chromium_from(dir, player, seconds, "video.m3u8")
}

/// As [`play_in_chromium`], hls.js loading `hls_playlist`.
fn play_in_chromium_from(
    dir: &Path,
    player: &str,
    seconds: impl std::fmt::Display,
    hls_playlist: &str,
) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/player/play.mjs");
    assert!(
        script
            .with_file_name("node_modules")
            .join("playwright-core")
            .exists(),
        "tests/player/node_modules is missing: run scripts/setup.sh (npm ci --prefix tests/player)"
    );
    let output = Command::new("node")
        .arg(&script)
        .arg(dir)
        .arg(player)
        .arg(seconds.to_string())
        .arg(hls_playlist)
        .output()
        .expect("node runs (scripts/setup.sh installs nodejs and chromium)");
    assert!(
        output.status.success(),
        "{player}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{player}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// hlsdashsink's keyframe requests name running times on the UTC timeline that
/// `timecodeparse timeline=timecode` makes. With `timecodeparse` after the encoder, the encoder
/// does not share that timeline: the requests must be carried back through `timecodeparse`, or
/// every segment lacks its keyframe and nothing is published. Both placements, with an encoder
/// whose own keyframe interval (250 frames) is far longer than a segment (25).
#[test]
fn keyframe_requests_reach_the_encoder_before_and_after_timecodeparse() {
    let encoder = "x264enc speed-preset=ultrafast tune=zerolatency key-int-max=250 threads=1";
    let stamped = "videotestsrc num-buffers=100 pattern=ball ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodestamper set-internal-timecode=10:00:00:00";
    let parse = "timecodeparse source=meta reference-time=2026-01-01T12:00:00Z timeline=timecode";
    for (placement, chain) in [
        (
            "after the encoder",
            format!("{stamped} ! {encoder} ! h264parse ! {parse}"),
        ),
        (
            "before the encoder",
            format!("{stamped} ! {parse} ! {encoder}"),
        ),
    ] {
        let dir = out_dir(&format!("fku-{}", placement.replace(' ', "-")));
        let run = run(
            &format!(
                "{chain} ! {}",
                sink_props(&dir, "max-files=0 playlist-length=10")
            ),
            false,
        );
        assert_eq!(run.error, None, "{placement}");
        assert!(
            run.warnings.iter().all(|w| !w.contains("keyframe")),
            "{placement}: every segment starts on a keyframe: {:?}",
            run.warnings
        );
        let ks: Vec<i64> = run.segments.iter().map(|s| s.get("k").unwrap()).collect();
        assert_eq!(
            ks,
            (K0..K0 + 4).collect::<Vec<_>>(),
            "{placement}: all published"
        );
        let playlist = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
        assert_eq!(playlist.segments.len(), 4, "{placement}");
        for k in K0..K0 + 4 {
            let frames = ffprobe_frames(&concatenate(&dir, k..k + 1));
            assert_eq!(frames.len(), 25, "{placement}: segment {k}");
            assert!(frames[0].1, "{placement}: segment {k} starts on a keyframe");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A live run that ends inside a segment (96 frames: three 1 s segments and 0.84 s) leaves a
/// static MPD that claims exactly the media written, with the last segment's real length, and
/// dash.js and Shaka Player play it to its end (a longer claim stalls them before `ended`).
#[test]
fn static_mpd_after_a_short_last_segment_claims_only_the_media_written() {
    for timeline in [false, true] {
        let dir = out_dir(&format!("short-last-{timeline}"));
        let run = run(
            &format!(
                "{} ! {}",
                source("10:00:00:00", 96).replace("pattern=colors", "pattern=ball"),
                sink_props(
                    &dir,
                    &format!("max-files=0 playlist-length=10 segment-timeline={timeline}")
                )
            ),
            false,
        );
        assert_eq!(run.error, None);
        let written_ns: u64 = run
            .segments
            .iter()
            .map(|s| s.get::<u64>("duration").unwrap())
            .sum();
        assert_eq!(written_ns, 3_840_000_000, "3 s + 21 frames written");
        let mpd = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
        assert_schema_valid(&mpd);
        let document = roxmltree::Document::parse(&mpd).unwrap();
        let root = document.root_element();
        assert_eq!(root.attribute("type"), Some("static"));
        assert_eq!(root.attribute("mediaPresentationDuration"), Some("PT3.84S"));
        if timeline {
            let last_s = root.descendants().rfind(|n| n.has_tag_name("S")).unwrap();
            // 21 frames at the 90 kHz video timescale.
            assert_eq!(last_s.attribute("d"), Some("75600"));
        }
        let playlist = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
        assert_eq!(playlist.segments.last().unwrap().duration, 0.84);
        for player in ["dash", "shaka"] {
            let result = play_in_chromium(&dir, player, "end");
            assert_eq!(
                result["errors"],
                serde_json::json!([]),
                "{player}: {result}"
            );
            assert_eq!(result["ended"], true, "{player} reaches the end: {result}");
            let time = result["currentTime"].as_f64().unwrap();
            assert!(
                (time - 3.84).abs() < 0.1,
                "{player} ends at 3.84 s: {result}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The written presentation plays in real clients: hls.js and dash.js in Debian's headless
/// Chromium, served on 127.0.0.1. Playback advances 3 s with no error, and the
/// program-date-time hls.js reads is the timecode's instant (10:00:00:00 → 10:00:00.000Z).
#[test]
fn plays_in_hls_js_and_dash_js_in_headless_chromium() {
    let dir = out_dir("chromium");
    let run = run(
        &format!(
            "{} ! {}",
            source("10:00:00:00", 200).replace("pattern=colors", "pattern=ball"),
            sink_props(&dir, "playlist-type=vod max-files=0")
        ),
        false,
    );
    assert_eq!(run.error, None);
    for player in ["hls", "dash"] {
        let result = play_in_chromium(&dir, player, 3);
        assert_eq!(
            result["errors"],
            serde_json::json!([]),
            "{player}: {result}"
        );
        assert!(
            result["currentTime"].as_f64().unwrap() >= 3.0,
            "{player} plays: {result}"
        );
        assert!(
            result["frames"].as_u64().unwrap() >= 60,
            "{player} renders frames: {result}"
        );
        if player == "hls" {
            assert_eq!(
                result["programDateTime"].as_i64(),
                Some(T0_NS / 1_000_000),
                "hls.js sees the timecode's instant: {result}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One timecoded source, tee'd to two independent encoder branches and packagers in one
/// pipeline; branch B's encoder only starts receiving frames at 10:00:02:12 (inside segment
/// K0+2), as a redundant encoder started later would. From B's first complete window on, both
/// directories hold identical playlists, MPDs and segments.
#[test]
fn two_encoder_branches_of_one_source_match() {
    init();
    let dir_a = out_dir("tee-a");
    let dir_b = out_dir("tee-b");
    let branch = |name: &str, dir: &Path| {
        format!(
            // Unbounded queues: A prerolls long before B gets its first frame.
            "t. ! queue name=q{name} max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! x264enc speed-preset=ultrafast tune=zerolatency \
             key-int-max=1000 pass=quant quantizer=30 threads=1 ! \
             hlsdashsink name={name} location={} segment-duration=1000000000 \
             playlist-length=3 max-files=0",
            dir.display()
        )
    };
    let launch = format!(
        "videotestsrc num-buffers=200 pattern=colors ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodestamper set-internal-timecode=10:00:00:00 ! \
         timecodeparse source=meta reference-time=2026-01-01T12:00:00Z timeline=timecode ! \
         tee name=t {} {}",
        branch("a", &dir_a),
        branch("b", &dir_b)
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    // Branch B's encoder sees nothing before 10:00:02:12.
    let start_b = T0_NS + 62 * 40_000_000;
    pipeline
        .by_name("qb")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            match info.buffer().and_then(|b| b.pts()) {
                Some(pts) if (pts.nseconds() as i64) < start_b => gst::PadProbeReturn::Drop,
                _ => gst::PadProbeReturn::Ok,
            }
        });
    type Snapshots = BTreeMap<(String, i64), (String, String)>;
    let snapshots: Arc<Mutex<Snapshots>> = Arc::default();
    let (dirs, sink_snapshots) = (
        [
            ("a".to_owned(), dir_a.clone()),
            ("b".to_owned(), dir_b.clone()),
        ],
        snapshots.clone(),
    );
    pipeline.bus().unwrap().set_sync_handler(move |_, message| {
        if let gst::MessageView::Element(e) = message.view()
            && let Some(s) = e.structure()
            && s.name() == "hlsdashsink-manifest"
        {
            let source = message.src().map(|o| o.name().to_string()).unwrap();
            let dir = &dirs.iter().find(|(n, _)| *n == source).unwrap().1;
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
            sink_snapshots
                .lock()
                .unwrap()
                .entry((source, s.get::<i64>("k").unwrap()))
                .or_insert((read("video.m3u8"), read("manifest.mpd")));
        }
        gst::BusSyncReply::Pass
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the pipeline finishes");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "{message:?}"
    );
    let snapshots = snapshots.lock().unwrap();
    for k in K0 + 5..K0 + 8 {
        assert_eq!(
            snapshots[&("a".to_owned(), k)],
            snapshots[&("b".to_owned(), k)],
            "manifests after segment {k}"
        );
    }
    assert!(
        !snapshots.contains_key(&("b".to_owned(), K0 + 2)),
        "B skipped K0+2"
    );
    assert_same_files(
        &dir_a,
        &dir_b,
        (K0 + 3..K0 + 8).map(|k| format!("video_{k}.m4s")),
    );
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// H.265 (x265enc): hvc1 + hvcC init segment, segments on the grid (x265enc honours the
/// force-key-unit requests too), every frame decodes, CODECS is an hvc1 string.
#[test]
fn h265_segments_decode() {
    let dir = out_dir("h265");
    let launch = format!(
        "videotestsrc num-buffers=75 pattern=ball ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodestamper set-internal-timecode=10:00:00:00 ! \
         timecodeparse source=meta reference-time=2026-01-01T12:00:00Z timeline=timecode ! \
         x265enc speed-preset=ultrafast tune=zerolatency key-int-max=1000 ! {}",
        sink_props(&dir, "playlist-type=vod max-files=0 bandwidth=500000")
    );
    let run = run(&launch, false);
    assert_eq!(run.error, None);
    let ks: Vec<i64> = run.segments.iter().map(|s| s.get("k").unwrap()).collect();
    assert_eq!(ks, (K0..K0 + 3).collect::<Vec<_>>());
    let multivariant = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(
        multivariant.contains("CODECS=\"hvc1.1.6."),
        "{multivariant}"
    );
    let frames = ffprobe_frames(&concatenate(&dir, K0..K0 + 3));
    assert_eq!(frames.len(), 75);
    for (i, (_, key)) in frames.iter().enumerate() {
        assert_eq!(*key, i % 25 == 0, "frame {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A live stream timecoded "now" (real time, `videotestsrc is-live=true`), played while it is
/// being written: the dynamic MPD (AST at the epoch, UTCTiming from the test server) in
/// dash.js and the live playlist in hls.js. Both advance 2 s without error; dash.js plays at
/// MPD time = UTC, and the program-date-time hls.js reads is a segment boundary of the last
/// seconds.
#[test]
fn live_stream_plays_in_hls_js_and_dash_js() {
    live_playback(false);
}

/// The live test with AAC audio on `audio_0` (the video on the pipeline's running time,
/// `timeline=keep`, shared with the audio): both players play the live presentation with its
/// audio track and decode audio.
#[test]
fn live_stream_with_audio_plays_in_hls_js_and_dash_js() {
    live_playback(true);
}

fn live_playback(audio: bool) {
    init();
    let dir = out_dir(if audio { "live-audio" } else { "live-players" });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let second_of_day = now % 86_400;
    let first_timecode = format!(
        "{:02}:{:02}:{:02}:00",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    let launch = format!(
        "videotestsrc is-live=true pattern=ball ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodeparse first-timecode={first_timecode} timeline={} ! \
         x264enc speed-preset=ultrafast tune=zerolatency bitrate=500 ! \
         hlsdashsink name=sink location={} segment-duration=1000000000 playlist-length=6 \
         utc-timing=/time {}",
        if audio { "keep" } else { "timecode" },
        dir.display(),
        if audio {
            "audiotestsrc is-live=true samplesperbuffer=1024 ! \
             audio/x-raw,rate=48000,channels=2 ! avenc_aac ! sink.audio_0"
        } else {
            ""
        }
    );
    let mut child = spawn_gst_launch(&launch, &plugin_dir());
    // Enough segments for dash.js's suggested presentation delay (3 s) behind the live edge.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let dash = play_in_chromium(&dir, "dash", 2);
    let hls = play_in_chromium_from(
        &dir,
        "hls",
        2,
        if audio { "index.m3u8" } else { "video.m3u8" },
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for (player, result) in [("dash", &dash), ("hls", &hls)] {
        assert_eq!(
            result["errors"],
            serde_json::json!([]),
            "{player}: {result}"
        );
        assert!(
            result["played"].as_f64().unwrap() >= 2.0,
            "{player}: {result}"
        );
        assert!(
            result["frames"].as_u64().unwrap() >= 30,
            "{player}: {result}"
        );
        if audio {
            assert_eq!(result["audioTracks"], 1, "{player}: {result}");
            assert!(
                result["audioBytes"].as_u64().unwrap() > 0,
                "{player} decodes the audio: {result}"
            );
        }
    }
    let media_time = dash["currentTime"].as_f64().unwrap();
    assert!(
        media_time > now as f64 && media_time < until,
        "dash.js plays at MPD time = UTC: {media_time} in ({now}, {until})"
    );
    let pdt_ms = hls["programDateTime"].as_f64().unwrap();
    assert_eq!(pdt_ms % 1000.0, 0.0, "a segment boundary: {pdt_ms}");
    assert!(
        pdt_ms / 1000.0 >= now as f64 && pdt_ms / 1000.0 < until,
        "hls.js program-date-time {pdt_ms} from the timecode, within the run"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// segment-format=ts (HLS only): version 3 playlist without EXT-X-MAP, `.ts` segments named by
/// k that each decode on their own (parameter sets before every keyframe, B-frames included),
/// continuous timestamps across segments, playback in hls.js; with dash=true it is a
/// configuration error.
#[test]
fn ts_segments_for_hls() {
    let dir = out_dir("ts");
    let launch = format!(
        "{} ! {}",
        source("10:00:00:00", 100)
            .replace("tune=zerolatency", "bframes=2 b-adapt=false")
            .replace("pattern=colors", "pattern=ball"),
        sink_props(
            &dir,
            "segment-format=ts dash=false playlist-type=vod max-files=0"
        )
    );
    let run = run(&launch, false);
    assert_eq!(run.error, None);
    let text = std::fs::read_to_string(dir.join("video.m3u8")).unwrap();
    let playlist = parse_media(&text);
    assert_eq!(playlist.version, Some(3));
    assert!(!text.contains("EXT-X-MAP"), "{text}");
    assert_eq!(playlist.segments.len(), 4);
    assert!(!dir.join("manifest.mpd").exists());
    let mut all = Vec::new();
    for (i, segment) in playlist.segments.iter().enumerate() {
        assert_eq!(segment.uri, format!("video_{}.ts", K0 + i as i64));
        let path = dir.join(&segment.uri);
        let frames = ffprobe_frames(&path);
        assert_eq!(frames.len(), 25, "{} decodes on its own", segment.uri);
        assert!(frames[0].1, "{} opens with a keyframe", segment.uri);
        all.extend(std::fs::read(&path).unwrap());
    }
    let joined = dir.join("all.ts");
    std::fs::write(&joined, all).unwrap();
    let frames = ffprobe_frames(&joined);
    assert_eq!(frames.len(), 100);
    for pair in frames.windows(2) {
        assert!((pair[1].0 - pair[0].0 - 0.04).abs() < 1e-3, "{pair:?}");
    }
    std::fs::remove_file(&joined).unwrap();
    let result = play_in_chromium(&dir, "hls", 2);
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert!(result["played"].as_f64().unwrap() >= 2.0, "{result}");
    assert_eq!(result["programDateTime"].as_i64(), Some(T0_NS / 1_000_000));

    let error = crate::run(
        &format!(
            "{} ! {}",
            source("10:00:00:00", 30),
            sink_props(&dir, "segment-format=ts")
        ),
        false,
    )
    .error
    .expect("ts with dash is refused");
    assert!(error.contains("set dash=false"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// (pts seconds, duration seconds) of every audio packet, by ffprobe.
fn ffprobe_audio_packets(path: &Path) -> (String, Vec<(f64, f64)>) {
    let stream = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,profile,sample_rate,channels",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe must be installed (Debian package ffmpeg; scripts/setup.sh)");
    assert!(stream.status.success(), "ffprobe failed");
    let packets = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let packets = String::from_utf8(packets.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut fields = line.split(',');
            let pts: f64 = fields.next().unwrap().parse().unwrap();
            // ffprobe prints N/A for the first packet's duration.
            let duration: f64 = fields.next().unwrap().parse().unwrap_or(f64::NAN);
            (pts, duration)
        })
        .collect();
    (
        String::from_utf8(stream.stdout).unwrap().trim().to_owned(),
        packets,
    )
}

/// A pipeline with AAC audio: `frames` of the video of [`source`] on the pipeline's running
/// time (`timeline=keep`, shared with the audio) and as long 48 kHz stereo AAC from avenc_aac
/// on `sink.audio_0`.
fn source_with_audio(start: &str, frames: u32, sink: &str) -> String {
    format!(
        "{} ! {sink} audiotestsrc num-buffers={} samplesperbuffer=1024 wave=ticks ! \
         audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! sink.audio_0",
        source(start, frames).replace("timeline=timecode", "timeline=keep"),
        frames * 1920 / 1024
    )
}

/// An AAC audio pad: audio segments on the video's boundaries (one per k, continuous
/// timestamps across segments, probed with ffprobe), an audio rendition in the multivariant
/// playlist whose playlist lists the same k with the same program-date-time as the video, an
/// audio AdaptationSet in a schema-valid MPD, and playback with sound in hls.js (from the
/// multivariant playlist) and dash.js.
#[test]
fn aac_audio_is_packaged_beside_the_video_and_plays() {
    let dir = out_dir("audio");
    let run = run(
        &source_with_audio(
            "10:00:00:00",
            200,
            &sink_props(&dir, "playlist-type=vod max-files=0 storage-manifest=true"),
        ),
        false,
    );
    assert_eq!(run.error, None, "{:?}", run.warnings);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let ks = |representation: &str| -> Vec<i64> {
        run.segments
            .iter()
            .filter(|s| s.get::<String>("representation").unwrap() == representation)
            .map(|s| s.get::<i64>("k").unwrap())
            .collect()
    };
    let expected: Vec<i64> = (K0..K0 + 8).collect();
    assert_eq!(ks("video"), expected);
    // The encoder's last, padded frame may reach into K0 + 8: written, never listed (the
    // video has no K0 + 8).
    let audio_ks = ks("audio_0");
    assert!(
        audio_ks.starts_with(&expected) && audio_ks.len() <= 9,
        "{audio_ks:?}"
    );

    let multivariant = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let master = match m3u8_rs::parse_playlist_res(multivariant.as_bytes()) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(p)) => p,
        other => panic!("{other:?}\n{multivariant}"),
    };
    assert_eq!(master.alternatives.len(), 1);
    let rendition = &master.alternatives[0];
    assert_eq!(rendition.media_type, m3u8_rs::AlternativeMediaType::Audio);
    assert_eq!(rendition.uri.as_deref(), Some("audio_0.m3u8"));
    assert_eq!(rendition.channels.as_deref(), Some("2"));
    let variant = &master.variants[0];
    assert_eq!(variant.audio.as_deref(), Some(rendition.group_id.as_str()));
    assert!(
        variant.codecs.as_deref().unwrap().ends_with(",mp4a.40.2"),
        "{variant:?}"
    );
    let video = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
    let audio = parse_media(&std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap());
    assert_eq!(audio.media_sequence, video.media_sequence);
    assert_eq!(audio.segments.len(), 8);
    for (a, v) in audio.segments.iter().zip(&video.segments) {
        assert_eq!(a.program_date_time, v.program_date_time);
        assert_eq!(a.duration, v.duration);
        assert_eq!(a.uri.replace("audio_0_", "video_"), v.uri);
    }
    assert_eq!(
        audio.segments[0].map.as_ref().unwrap().uri,
        "audio_0_init.mp4"
    );

    let mpd = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert_schema_valid(&mpd);
    let document = roxmltree::Document::parse(&mpd).unwrap();
    let audio_set = document
        .descendants()
        .find(|n| n.has_tag_name("AdaptationSet") && n.attribute("contentType") == Some("audio"))
        .unwrap_or_else(|| panic!("no audio AdaptationSet:\n{mpd}"));
    let representation = audio_set
        .descendants()
        .find(|n| n.has_tag_name("Representation"))
        .unwrap();
    assert_eq!(representation.attribute("id"), Some("audio_0"));
    assert_eq!(representation.attribute("codecs"), Some("mp4a.40.2"));
    assert_eq!(representation.attribute("audioSamplingRate"), Some("48000"));

    // The audio segments are one continuous AAC track starting at the first boundary.
    let mut bytes = std::fs::read(dir.join("audio_0_init.mp4")).unwrap();
    for k in K0..K0 + 8 {
        bytes.extend(std::fs::read(dir.join(format!("audio_0_{k}.m4s"))).unwrap());
    }
    let path = dir.join("audio.mp4");
    std::fs::write(&path, bytes).unwrap();
    let (stream, packets) = ffprobe_audio_packets(&path);
    assert_eq!(stream, "aac,LC,48000,2");
    assert!(packets.len() >= 370, "{} packets", packets.len());
    assert!(
        (packets[0].0 - (K0 as f64)).abs() < 0.03,
        "starts at the boundary of K0: {}",
        packets[0].0
    );
    for pair in packets.windows(2) {
        assert!(
            (pair[1].0 - pair[0].0 - 1024.0 / 48_000.0).abs() < 1e-6,
            "continuous: {pair:?}"
        );
    }
    let storage: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("storage_audio_0.json")).unwrap())
            .unwrap();
    // Every audio file on disk, listed or not.
    assert_eq!(
        storage["segments"].as_array().unwrap().len(),
        audio_ks.len()
    );

    let hls = play_in_chromium_from(&dir, "hls", 3, "index.m3u8");
    let dash = play_in_chromium(&dir, "dash", 3);
    for (player, result) in [("hls", hls), ("dash", dash)] {
        assert_eq!(
            result["errors"],
            serde_json::json!([]),
            "{player}: {result}"
        );
        assert!(
            result["played"].as_f64().unwrap() >= 3.0,
            "{player}: {result}"
        );
        assert_eq!(result["audioTracks"], 1, "{player}: {result}");
        assert!(
            result["audioBytes"].as_u64().unwrap() > 0,
            "{player} decodes the audio: {result}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// With audio, the manifests wait for the audio of a segment, so one update may list several
/// new segments: every update of `names` both packagers wrote for a k in `ks` is identical,
/// and both wrote the one for the last k.
fn assert_same_updates(a: &Run, b: &Run, ks: std::ops::Range<i64>, names: &[&str]) {
    let last = ks.end - 1;
    for k in ks {
        for &name in names {
            let key = (k, name.to_owned());
            match (a.snapshots.get(&key), b.snapshots.get(&key)) {
                (Some(x), Some(y)) => assert_eq!(x, y, "{name} after segment {k}"),
                (x, y) => assert!(
                    k != last,
                    "both list the last segment {k} in {name}: {} {}; {:?} {:?} {:?} {:?}",
                    x.is_some(),
                    y.is_some(),
                    a.snapshots.keys().collect::<Vec<_>>(),
                    b.snapshots.keys().collect::<Vec<_>>(),
                    a.warnings,
                    b.warnings
                ),
            }
        }
    }
}

/// Two packagers with audio, the second started 2.48 s later (inside K0+2, with its AAC
/// frames on another phase of the sample grid and its own encoder): from its first complete
/// window on, the video and audio playlists and the MPD are identical after every segment,
/// and so is the multivariant playlist.
#[test]
fn redundant_packagers_with_audio_write_identical_manifests() {
    let dir_a = out_dir("redundant-audio-a");
    let dir_b = out_dir("redundant-audio-b");
    let extra = "max-files=0 segment-timeline=true";
    let a = run(
        &source_with_audio("10:00:00:00", 200, &sink_props(&dir_a, extra)),
        false,
    );
    let b = run(
        &source_with_audio("10:00:02:12", 138, &sink_props(&dir_b, extra)),
        false,
    );
    assert_eq!(a.error, None);
    assert_eq!(b.error, None);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    let audio_ks: Vec<i64> = b
        .segments
        .iter()
        .filter(|s| s.get::<String>("representation").unwrap() == "audio_0")
        .map(|s| s.get("k").unwrap())
        .collect();
    assert_eq!(
        audio_ks.first(),
        Some(&(K0 + 3)),
        "B's audio skips K0+2 too"
    );
    assert_same_updates(
        &a,
        &b,
        K0 + 5..K0 + 8,
        &["video.m3u8", "audio_0.m3u8", "manifest.mpd"],
    );
    assert_same_files(
        &dir_a,
        &dir_b,
        ["index.m3u8", "video.m3u8", "audio_0.m3u8", "manifest.mpd"].map(String::from),
    );
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// A packager with audio stopped without EOS and started again in the same directory: its
/// audio playlist continues (never a decreasing media sequence) and from its first segment
/// after the restart all its manifests match those of a packager that ran all along.
#[test]
fn restarted_packager_with_audio_matches_again() {
    restart(true);
}

/// A live audio branch that stops delivering (its frames are dropped from 2 s on, no EOS):
/// after two segment durations of wall-clock silence the packager stops waiting for it,
/// warns, and goes on publishing the video with EXT-X-GAP entries in the audio playlist.
#[test]
fn a_stalled_audio_branch_does_not_stop_publication() {
    init();
    let dir = out_dir("audio-stall");
    let launch = format!(
        "videotestsrc is-live=true pattern=ball ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodestamper set-internal-timecode=10:00:00:00 ! \
         timecodeparse source=meta reference-time=2026-01-01T12:00:00Z ! \
         x264enc speed-preset=ultrafast tune=zerolatency key-int-max=1000 threads=1 ! {} \
         audiotestsrc is-live=true samplesperbuffer=1024 name=audio ! \
         audio/x-raw,rate=48000,channels=2 ! avenc_aac ! sink.audio_0",
        sink_props(&dir, "bandwidth=1000000")
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline
        .by_name("audio")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, |_, info| {
            match info.buffer().and_then(|b| b.pts()) {
                Some(pts) if pts >= gst::ClockTime::from_seconds(2) => gst::PadProbeReturn::Drop,
                _ => gst::PadProbeReturn::Ok,
            }
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut warnings = Vec::new();
    let mut listed = None;
    while std::time::Instant::now() < deadline {
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            continue;
        };
        match message.view() {
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "hlsdashsink-manifest"
                {
                    let k = s.get::<i64>("k").unwrap();
                    if k >= K0 + 3 {
                        listed = Some(k);
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(listed.is_some(), "the video is published on: {warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("The audio of audio_0 is missing from segment")),
        "{warnings:?}"
    );
    let audio = parse_media(&std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap());
    let video = parse_media(&std::fs::read_to_string(dir.join("video.m3u8")).unwrap());
    assert_eq!(audio.media_sequence, video.media_sequence);
    assert_eq!(audio.segments.len(), video.segments.len());
    // The live window ends with segments whose audio never came: gaps in the audio playlist.
    let last = audio.segments.last().unwrap();
    assert!(
        last.unknown_tags.iter().any(|t| t.tag == "X-GAP"),
        "{:?}",
        audio.segments
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `segment-naming=time`: files named by their start on the epoch timeline (90 kHz video,
/// 48 kHz audio), a `$Time$` SegmentTemplate over the SegmentTimeline, and both players play
/// it; without `segment-timeline` it is a configuration error naming the fix.
#[test]
fn segments_named_by_time_play() {
    let dir = out_dir("time-names");
    let written = run(
        &source_with_audio(
            "10:00:00:00",
            150,
            &sink_props(
                &dir,
                "playlist-type=vod max-files=0 segment-naming=time segment-timeline=true",
            ),
        ),
        false,
    );
    assert_eq!(written.error, None);
    for (name, t) in [("video", K0 * 90_000), ("audio_0", K0 * 48_000)] {
        assert!(
            dir.join(format!("{name}_{t}.m4s")).is_file(),
            "{name}_{t}.m4s"
        );
    }
    let mpd = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert_schema_valid(&mpd);
    assert!(
        mpd.contains("media=\"$RepresentationID$_$Time$.m4s\""),
        "{mpd}"
    );
    for (player, playlist) in [("hls", "index.m3u8"), ("dash", "")] {
        let result = play_in_chromium_from(&dir, player, 2, playlist);
        assert_eq!(
            result["errors"],
            serde_json::json!([]),
            "{player}: {result}"
        );
        assert!(
            result["played"].as_f64().unwrap() >= 2.0,
            "{player}: {result}"
        );
    }
    let bad = out_dir("time-names-bad");
    let refused = run(
        &format!(
            "{} ! {}",
            source("10:00:00:00", 10),
            sink_props(&bad, "segment-naming=time")
        ),
        false,
    );
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.contains("segment-timeline=true")),
        "{:?}",
        refused.error
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&bad);
}

/// A file whose audio starts late (its first AAC frame 500 ms after the whole video has been
/// encoded): the packager holds the video, waits for the audio's caps (also at the video's
/// EOS), and packages both — nothing lost, no warning.
#[test]
fn late_audio_caps_lose_nothing() {
    let dir = out_dir("late-audio");
    let launch = source_with_audio(
        "10:00:00:00",
        100,
        &sink_props(&dir, "playlist-type=event max-files=0"),
    )
    .replace("audiotestsrc", "audiotestsrc name=asrc");
    let run = run_with(&launch, false, |pipeline| {
        let first = std::sync::atomic::AtomicBool::new(true);
        pipeline
            .by_name("asrc")
            .unwrap()
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                gst::PadProbeReturn::Ok
            });
    });
    assert_eq!(run.error, None);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let ks = |representation: &str| -> Vec<i64> {
        run.segments
            .iter()
            .filter(|s| s.get::<String>("representation").unwrap() == representation)
            .map(|s| s.get::<i64>("k").unwrap())
            .collect()
    };
    let expected: Vec<i64> = (K0..K0 + 4).collect();
    assert_eq!(ks("video"), expected);
    assert!(ks("audio_0").starts_with(&expected), "{:?}", ks("audio_0"));
    let audio = parse_media(&std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap());
    assert_eq!(audio.segments.len(), 4);
    assert!(
        audio.segments.iter().all(|s| s.unknown_tags.is_empty()),
        "no gap"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
