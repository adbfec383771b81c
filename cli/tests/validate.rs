// SPDX-License-Identifier: MPL-2.0
//! `lockstep validate` on real hlsdashsink output: a good output passes, two redundant outputs
//! from packagers started apart are interchangeable, and each fault of a catalogue — made by
//! the test from a good output — is flagged by the check named after it. Garbage never makes
//! it panic.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use gst::prelude::*;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstlockstep::plugin_register_static().expect("lockstep registers");
    });
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-validate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A packager's output: `frames` frames from timecode `start` (25 fps, 1 s segments, AAC
/// audio, storage index), written into `dir`, run to EOS.
fn package(dir: &Path, start: &str, frames: u32) {
    init();
    let launch = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,format=I420,width=320,height=180,framerate=25/1 ! \
         timecodestamper set-internal-timecode={start} ! \
         timecodeparse source=meta reference-time=2026-01-01T12:00:00Z ! \
         x264enc speed-preset=ultrafast tune=zerolatency key-int-max=1000 pass=quant quantizer=30 threads=1 ! \
         hlsdashsink name=sink location={} segment-duration=1000000000 playlist-length=10 \
           max-files=0 storage-manifest=true bandwidth=500000 \
         audiotestsrc num-buffers={} samplesperbuffer=1024 wave=ticks ! \
         audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! sink.audio_0",
        dir.display(),
        frames * 1920 / 1024
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the packager finishes");
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "{message:?}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn edit(dir: &Path, name: &str, change: impl FnOnce(String) -> String) {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = change(text.clone());
    assert_ne!(text, changed, "the edit of {name} changes it");
    std::fs::write(path, changed).unwrap();
}

fn first_segment(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("video.m3u8")).unwrap();
    text.lines()
        .find(|l| l.ends_with(".m4s"))
        .unwrap()
        .to_owned()
}

fn validate(args: &[&Path]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    (output.status.code().unwrap_or(-1), stdout)
}

/// Breaks a copy of a good output.
type Fault = Box<dyn Fn(&Path)>;

/// The catalogue: each fault made from a good output and the check that must name it.
#[test]
fn a_good_output_passes_and_every_fault_is_named() {
    let good = out_dir("good");
    package(&good, "10:00:00:00", 100);
    let report = lockstep_cli::validate::validate_dir(&good);
    assert!(report.passed(), "{:#?}", report.findings);
    assert!(report.counts.segments >= 8, "{:?}", report.counts);
    assert!(report.counts.storage_entries >= 8);
    let (code, stdout) = validate(&[&good]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("VALID: ")
    );

    let broken = good.with_file_name(format!(
        "{}-broken",
        good.file_name().unwrap().to_string_lossy()
    ));
    let faults: Vec<(&str, Fault)> = vec![
        (
            "hls-missing-segment",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join(first_segment(d))).unwrap();
            }),
        ),
        (
            "storage-sha256",
            Box::new(|d: &Path| {
                let path = d.join(first_segment(d));
                let mut bytes = std::fs::read(&path).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
                std::fs::write(path, bytes).unwrap();
            }),
        ),
        (
            "keyframe",
            Box::new(|d: &Path| {
                // The first sample flagged non-sync, as an encoder that ignored the keyframe
                // request writes it.
                let path = d.join(first_segment(d));
                let mut bytes = std::fs::read(&path).unwrap();
                let trun = bytes.windows(4).position(|w| w == b"trun").unwrap();
                let flags =
                    u32::from_be_bytes(bytes[trun + 4..trun + 8].try_into().unwrap()) & 0xffffff;
                // After the box type: version/flags, sample_count, then data_offset.
                let mut at = trun + 12 + if flags & 0x001 != 0 { 4 } else { 0 };
                if flags & 0x004 == 0 {
                    assert!(flags & 0x400 != 0, "the writer puts per-sample flags");
                    // The first entry's flags, after its duration and size.
                    at += [(0x100, 4), (0x200, 4)]
                        .iter()
                        .filter(|(f, _)| flags & f != 0)
                        .map(|(_, n)| n)
                        .sum::<usize>();
                }
                // sample_is_non_sync_sample (ISO/IEC 14496-12 8.8.3.1).
                bytes[at + 1] |= 0x01;
                std::fs::write(path, bytes).unwrap();
            }),
        ),
        (
            "hls-pdt",
            Box::new(|d: &Path| {
                edit(d, "video.m3u8", |t| {
                    t.replacen("T10:00:02.000Z", "T10:00:02.040Z", 1)
                });
            }),
        ),
        (
            "hls-media-sequence",
            Box::new(|d: &Path| {
                edit(d, "video.m3u8", |t| {
                    let line = t
                        .lines()
                        .find(|l| l.starts_with("#EXT-X-MEDIA-SEQUENCE:"))
                        .unwrap()
                        .to_owned();
                    let n: u64 = line.split(':').nth(1).unwrap().parse().unwrap();
                    t.replace(&line, &format!("#EXT-X-MEDIA-SEQUENCE:{}", n - 1))
                });
            }),
        ),
        (
            "hls-target-duration",
            Box::new(|d: &Path| {
                edit(d, "video.m3u8", |t| {
                    t.replace("#EXT-X-TARGETDURATION:1", "#EXT-X-TARGETDURATION:0")
                });
            }),
        ),
        (
            "dash-schema",
            Box::new(|d: &Path| {
                edit(d, "manifest.mpd", |t| {
                    t.replacen("<Period", "<Period bogus=\"1\"", 1)
                });
            }),
        ),
    ];
    for (check, fault) in &faults {
        copy_dir(&good, &broken);
        fault(&broken);
        let report = lockstep_cli::validate::validate_dir(&broken);
        assert!(report.has(check), "{check}: {:#?}", report.findings);
        let (code, stdout) = validate(&[&broken]);
        assert_eq!(code, 1, "{check}: {stdout}");
        assert!(
            stdout
                .trim_end()
                .lines()
                .last()
                .unwrap()
                .starts_with("INVALID: "),
            "{check}: the verdict comes last: {stdout}"
        );
    }

    // Two outputs whose manifests differ in one byte are not interchangeable, and the first
    // difference is named.
    copy_dir(&good, &broken);
    edit(&broken, "manifest.mpd", |t| {
        t.replacen("minBufferTime=\"PT1S\"", "minBufferTime=\"PT2S\"", 1)
    });
    let report = lockstep_cli::validate::compare_dirs(&good, &broken);
    assert!(report.has("compare-manifest"), "{:#?}", report.findings);
    let (code, stdout) = validate(&[&good, &broken]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("not interchangeable"), "{stdout}");
    let _ = std::fs::remove_dir_all(&broken);
    let _ = std::fs::remove_dir_all(&good);
}

/// Two packagers started apart (the second joins 2 s late, at a segment boundary) write
/// outputs a player could switch between.
#[test]
fn redundant_outputs_from_packagers_started_apart_are_interchangeable() {
    let early = out_dir("early");
    let late = out_dir("late");
    package(&early, "10:00:00:00", 150);
    package(&late, "10:00:02:00", 100);
    let report = lockstep_cli::validate::compare_dirs(&early, &late);
    let errors: Vec<_> = report.errors().collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let (code, stdout) = validate(&[&early, &late]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("are interchangeable"), "{stdout}");
    let _ = std::fs::remove_dir_all(&early);
    let _ = std::fs::remove_dir_all(&late);
}

/// No manifests, truncated files, garbage: a verdict, exit 1, never a panic; an unreadable
/// directory: exit 2.
#[test]
fn garbage_gets_a_verdict_never_a_panic() {
    let empty = out_dir("empty");
    let (code, stdout) = validate(&[&empty]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("no HLS playlist and no DASH MPD"),
        "{stdout}"
    );

    let junk = out_dir("junk");
    for (name, bytes) in [
        ("video.m3u8", &b"#EXTM3U\n#EXTINF:garbage\n\xff\xfe"[..]),
        ("index.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=x\n"),
        ("manifest.mpd", b"<MPD><Period"),
        ("storage.json", b"{\"format\": "),
        ("video_1.m4s", b"\x00\x00\x00\x08moof"),
    ] {
        std::fs::write(junk.join(name), bytes).unwrap();
    }
    let (code, stdout) = validate(&[&junk]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("INVALID: ")
    );

    let output = Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(["validate", "/nonexistent-lockstep-output"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&empty);
    let _ = std::fs::remove_dir_all(&junk);
}
