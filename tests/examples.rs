// SPDX-License-Identifier: MPL-2.0
//! The examples in `examples/` run as a user runs them: the built binaries under
//! `target/<profile>/examples/` (built here if `cargo test` did not build them) and the Python
//! example with Debian's `/usr/bin/python3` and `GST_PLUGIN_PATH` at the built plugin. Each must
//! exit 0 and print the lines that show it did what it says (each example also checks its own
//! output and exits 1 when it does not add up); bad options exit 2 with a usage line.

mod bounded;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bounded::Outcome;

/// Generous for a loaded machine; the live examples last 4-6 s of real time.
const LIMIT: Duration = Duration::from_secs(120);

fn example(name: &str) -> Command {
    bounded::build_examples_and_plugin();
    let binary = bounded::profile_dir().join("examples").join(name);
    assert!(binary.is_file(), "{} was not built", binary.display());
    let mut command = Command::new(binary);
    // The examples link the plugin; a copy on GST_PLUGIN_PATH would register it twice.
    command.env_remove("GST_PLUGIN_PATH");
    command
}

fn run_example(name: &str, args: &[&str]) -> Outcome {
    let mut command = example(name);
    command.args(args);
    let outcome = bounded::run(command, None, LIMIT);
    eprintln!("{name} {}: {}", args.join(" "), outcome.transcript());
    outcome
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/timecode")
        .join(name)
}

/// The lines of `text` that start with `prefix`.
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn timecodeparse_example_reads_a_fixture_in_a_zone_on_the_utc_timeline() {
    let fixture = data("h264_30fps_ndf_bframes_hrd_gst.h264");
    let out = run_example(
        "timecodeparse",
        &[
            "--input",
            fixture.to_str().unwrap(),
            "--date",
            "2026-11-23",
            "--time-zone",
            "Europe/Berlin",
            "--timeline",
            "timecode",
        ],
    );
    assert!(out.success(), "{}", out.transcript());
    // 16:30:00:10 in Berlin (UTC+1 in November) on the pinned date; 10/30 s = .333.
    let latched = lines(&out.stdout, "latched: ");
    assert_eq!(latched.len(), 1, "{latched:?}");
    assert!(
        latched[0].contains("timecode=(string)16:30:00:10")
            && latched[0].contains("utc=(string)2026-11-23T15:30:00.333Z")
            && latched[0].contains("zone=(string)Europe/Berlin"),
        "{}",
        latched[0]
    );
    let frames = lines(&out.stdout, "frame ");
    assert_eq!(frames.len(), 60, "the fixture's 60 frames");
    assert_eq!(
        frames[0],
        "frame    0 I  timecode 16:30:00:10  UTC 2026-11-23T15:30:00.333Z  running time 1795447800333333333"
    );
    // Decode order: the P-frame three frames later comes before the two B-frames.
    assert_eq!(
        frames[1],
        "frame    1    timecode 16:30:00:13  UTC 2026-11-23T15:30:00.433Z  running time 1795447800433333333"
    );
    assert!(
        out.stdout.contains(
            "ok: 60 frames, latched at 16:30:00:10 = 2026-11-23T15:30:00.333Z, every frame's UTC instant agrees"
        ) && out.stdout.contains("running time = UTC"),
        "{}",
        out.stdout
    );
}

#[test]
fn timecodeparse_example_generates_and_reads_a_stream() {
    let out = run_example(
        "timecodeparse",
        &[
            "--frames",
            "30",
            "--start",
            "12:00:00:00",
            "--date",
            "2026-01-02",
        ],
    );
    assert!(out.success(), "{}", out.transcript());
    assert!(out.stdout.contains("generated: "), "{}", out.stdout);
    let frames = lines(&out.stdout, "frame ");
    assert_eq!(frames.len(), 30);
    assert_eq!(
        frames[0],
        "frame    0 I  timecode 12:00:00:00  UTC 2026-01-02T12:00:00.000Z"
    );
    // Every label of the 30 frames once (B-frames reorder them in decode order).
    let mut labels: Vec<&str> = frames
        .iter()
        .map(|f| {
            f.split("timecode ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    labels.sort();
    let expected: Vec<String> = (0..30)
        .map(|n| format!("12:00:{:02}:{:02}", n / 25, n % 25))
        .collect();
    assert_eq!(labels, expected);
    assert!(out.stdout.contains("ok: 30 frames"), "{}", out.stdout);
}

#[test]
fn timecodeparse_example_fails_clearly_on_a_stream_without_timecodes() {
    let fixture = data("h264_30fps_no_timecode.h264");
    let out = run_example("timecodeparse", &["--input", fixture.to_str().unwrap()]);
    assert_eq!(out.code(), Some(1), "{}", out.transcript());
    assert!(
        out.stderr.contains(
            "timecodeparse: FAILED: timecodeparse latched no timecode: the input carries none"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn synchronizedswitch_example_switches_at_the_requested_frame_and_fails_over() {
    let out = run_example(
        "synchronizedswitch",
        &[
            "--frames",
            "100",
            "--switch-at-frame",
            "30",
            "--cut-at",
            "75",
        ],
    );
    assert!(out.success(), "{}", out.transcript());
    let messages = lines(&out.stdout, "message: synchronizedswitch-switched");
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(
        messages[1].contains("reason=(string)scheduled")
            && messages[1].contains("timecode=(string)00:00:01:05"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("reason=(string)timeout"),
        "{}",
        messages[2]
    );
    assert_eq!(
        lines(&out.stdout, "switched: "),
        [
            "switched: initial        - -> sink_0 at frame 0 (timecode 00:00:00:00)",
            "switched: scheduled sink_0 -> sink_1 at frame 30 (timecode 00:00:01:05)",
            "switched: timeout   sink_1 -> sink_0 at frame 75 (timecode 00:00:03:00)",
        ]
    );
    assert!(
        out.stdout
            .contains("cut: sink_1 delivers nothing from frame 75 on")
    );
    assert!(
        out.stdout
            .contains("ok: 100 frames out and decoded, each once and in order"),
        "{}",
        out.stdout
    );
}

#[test]
fn synchronizedswitch_example_switches_at_a_timecode() {
    let out = run_example(
        "synchronizedswitch",
        &[
            "--frames",
            "80",
            "--switch-at",
            "00:00:01:15",
            "--cut-at",
            "50",
        ],
    );
    assert!(out.success(), "{}", out.transcript());
    assert!(
        out.stdout
            .contains("switched: scheduled sink_0 -> sink_1 at frame 40 (timecode 00:00:01:15)"),
        "{}",
        out.stdout
    );
}

#[test]
fn handoverbin_example_replaces_the_encoder_at_the_negotiated_frame() {
    let out = run_example("handoverbin", &["--frames", "100", "--update-at", "20"]);
    assert!(out.success(), "{}", out.transcript());
    let refused = lines(
        &out.stdout,
        "request: update-encoder(\"x264enc no-such=1 !\") = false: ",
    );
    assert_eq!(refused.len(), 1, "{}", out.stdout);
    assert!(refused[0].contains("does not parse"), "{}", refused[0]);
    let names: Vec<&str> = lines(&out.stdout, "message: handover-")
        .iter()
        .map(|l| l["message: ".len()..].split(',').next().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"handover-requested"), "{names:?}");
    assert_eq!(names.last(), Some(&"handover-complete"), "{names:?}");
    assert!(names.contains(&"handover-negotiated"), "{names:?}");
    // "ok: handover at frame F (requested after frame R, ...": F after R + the 400 ms delay,
    // a multiple of the alignment 5.
    let ok = lines(&out.stdout, "ok: handover at frame ");
    assert_eq!(ok.len(), 1, "{}", out.stdout);
    let number = |after: &str| -> i64 {
        ok[0]
            .split(after)
            .nth(1)
            .unwrap()
            .split([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (at, requested) = (number("at frame "), number("requested after frame "));
    assert!(
        requested >= 20 && at >= requested + 10 && at % 5 == 0,
        "{}",
        ok[0]
    );
    assert!(ok[0].contains("100 frames out and decoded"), "{}", ok[0]);
}

#[test]
fn hlsdashsink_example_writes_a_live_channel() {
    let dir = bounded::scratch_dir("hlsdashsink-example");
    let out = run_example(
        "hlsdashsink",
        &["--out", dir.to_str().unwrap(), "--seconds", "4"],
    );
    assert!(out.success(), "{}", out.transcript());
    let video: Vec<&str> = lines(
        &out.stdout,
        "message: hlsdashsink-segment, representation=(string)video,",
    );
    let audio = lines(
        &out.stdout,
        "message: hlsdashsink-segment, representation=(string)audio_0,",
    );
    assert!(video.len() >= 2 && !audio.is_empty(), "{}", out.stdout);
    assert!(!lines(&out.stdout, "message: hlsdashsink-manifest, ").is_empty());
    // The final playlist, read with a real parser: ENDLIST, and the last announced segment.
    let text = std::fs::read(dir.join("video.m3u8")).unwrap();
    let playlist = match m3u8_rs::parse_playlist_res(&text) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("video.m3u8 is not a media playlist: {other:?}"),
    };
    assert!(playlist.end_list);
    let last = video.last().unwrap();
    let last_location = last
        .split("location=(string)")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(playlist.segments.last().unwrap().uri, last_location);
    for segment in &playlist.segments {
        assert!(dir.join(&segment.uri).is_file(), "{}", segment.uri);
        assert!(segment.program_date_time.is_some(), "{}", segment.uri);
    }
    assert!(
        out.stdout.contains("ok: video segments k="),
        "{}",
        out.stdout
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn python_redundant_switch_example_fails_over() {
    bounded::build_examples_and_plugin();
    let mut command = Command::new("/usr/bin/python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/redundant_switch.py"))
        .args(["--frames", "75", "--cut-at", "40"])
        .env("GST_PLUGIN_PATH", bounded::profile_dir())
        // A registry of its own: this plugin path differs from what other runs on the machine
        // use, and a shared registry would be rewritten back and forth.
        .env(
            "GST_REGISTRY",
            bounded::profile_dir().join("lockstep-test-registry.bin"),
        );
    let out = bounded::run(command, None, LIMIT);
    eprintln!("redundant_switch.py: {}", out.transcript());
    assert!(
        out.success(),
        "(needs /usr/bin/python3 with python3-gi: scripts/setup.sh) {}",
        out.transcript()
    );
    let switched = lines(&out.stdout, "switched: synchronizedswitch-switched");
    assert_eq!(switched.len(), 2, "{}", out.stdout);
    assert!(switched[0].contains("reason=(string)initial"));
    assert!(
        switched[1].contains("reason=(string)timeout")
            && switched[1].contains("new-pad=(string)sink_1")
    );
    assert!(
        out.stdout
            .contains("cutting branch 0 (sink_0) from frame 40")
    );
    assert!(
        out.stdout
            .contains("failover: sink_0 -> sink_1 at frame 40 (timecode 00:00:01:15)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("ok: 75 frames out, each once, no gap; failover at frame 40"),
        "{}",
        out.stdout
    );
}

#[test]
fn examples_refuse_bad_options_with_status_2() {
    for name in [
        "timecodeparse",
        "synchronizedswitch",
        "handoverbin",
        "hlsdashsink",
    ] {
        for args in [
            &["--no-such-option"][..],
            &["--frames", "many"],
            &["--seconds"],
        ] {
            let mut command = example(name);
            command.args(args);
            let out = bounded::run(command, None, LIMIT);
            assert_eq!(out.code(), Some(2), "{name} {args:?}: {}", out.transcript());
            assert!(
                out.stderr.starts_with(&format!("{name}: ")) && out.stderr.contains("usage: "),
                "{name} {args:?}: {}",
                out.stderr
            );
        }
    }
    let mut command = Command::new("/usr/bin/python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/redundant_switch.py"))
        .args(["--cut-at", "7"]);
    let out = bounded::run(command, None, LIMIT);
    assert_eq!(out.code(), Some(2), "{}", out.transcript());
    assert!(out.stderr.contains("--cut-at must"), "{}", out.stderr);
}
