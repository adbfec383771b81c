// SPDX-License-Identifier: MPL-2.0
//! `hlsdashsink` from an application: a short live channel (test pattern and tone, timecoded
//! from the wall clock) packaged as CMAF HLS + DASH into a directory. Every
//! `hlsdashsink-segment` and `hlsdashsink-manifest` message is printed; after `--seconds` the
//! application sends EOS (the final manifests are written before the EOS message), and the
//! program checks what it printed against the files.
//!
//! ```text
//! cargo run --example hlsdashsink -- [--out DIR] [--seconds 6] [--segment-ms 1000] [--no-audio]
//! ```
//!
//! ```text
//! videotestsrc is-live=true ! timecodeparse first-timecode=<now> ! x264enc ! hlsdashsink name=out
//! audiotestsrc is-live=true ! avenc_aac ! out.audio_0
//! ```
//!
//! The checks: video segments k follow each other; each starts at k × the segment duration on
//! the UTC timeline (the epoch grid) and holds a whole segment of frames (the last one, cut by
//! EOS, at most that); an audio segment for each of them; every manifest update names the
//! playlists and the MPD; the final `video.m3u8` ends with EXT-X-ENDLIST, lists segments that
//! were announced, each with its program-date-time; the storage index names them.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Event, Failure, Result, failed, field};
use gst::prelude::*;

const NAME: &str = "hlsdashsink";
const USAGE: &str = "hlsdashsink [--out DIR] [--seconds S] [--segment-ms MS] [--no-audio]";
const FPS: i64 = 25;

struct Segment {
    representation: String,
    location: String,
    k: i64,
    frames: u32,
    first_utc_ns: i64,
}

fn main() {
    common::main(
        NAME,
        USAGE,
        &["--out", "--seconds", "--segment-ms"],
        &["--no-audio"],
        run,
    )
}

/// The current UTC time of day as a 25 fps timecode, rounded down to a frame: the timecode
/// of running time 0 (never ahead of the clock, or the date rule would take yesterday).
fn timecode_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let of_day = now.as_secs() % 86_400;
    let frame = i64::from(now.subsec_millis()) * FPS / 1000;
    format!(
        "{:02}:{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        frame
    )
}

fn output_dir(args: &common::Args) -> Result<PathBuf> {
    let dir = match args.string("--out") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("lockstep-hlsdashsink-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Usage(format!("--out {}: {e}", dir.display())))?;
    let empty = std::fs::read_dir(&dir)
        .map_err(|e| Failure::Usage(format!("--out {}: {e}", dir.display())))?
        .next()
        .is_none();
    if !empty {
        // hlsdashsink would go on with the stream it finds there (a restart), and this
        // example's checks are about one run.
        return Err(Failure::Usage(format!(
            "--out {} is not empty: give a new or empty directory",
            dir.display()
        )));
    }
    Ok(dir)
}

fn run(args: common::Args) -> Result<()> {
    let seconds: u64 = args.number("--seconds", 6, 1..=3600)?;
    let segment_ms: i64 = args.number("--segment-ms", 1000, 40..=10_000)?;
    if segment_ms * FPS % 1000 != 0 {
        return Err(Failure::Usage(format!(
            "--segment-ms {segment_ms} is not a whole number of frames at {FPS} fps (a multiple of 40)"
        )));
    }
    // The start inside a segment (skipped), a whole segment and part of the next (cut by EOS):
    // the two segments the checks ask for.
    if (seconds as i64) * 1000 < 3 * segment_ms {
        return Err(Failure::Usage(format!(
            "--seconds {seconds} must cover at least three segments of {segment_ms} ms"
        )));
    }
    let audio = !args.flag("--no-audio");
    let dir = output_dir(&args)?;
    let segment_ns = segment_ms * 1_000_000;
    let segment_frames = segment_ms * FPS / 1000;
    // A live playlist must span three target durations (RFC 8216 §6.2.2); the target
    // duration is the segment duration rounded up to whole seconds.
    let target_ms = (segment_ms + 999) / 1000 * 1000;
    let playlist_length = (3 * target_ms + segment_ms - 1) / segment_ms;

    common::init()?;
    let audio_branch = if audio {
        "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 \
         ! avenc_aac bitrate=128000 ! out.audio_0"
    } else {
        ""
    };
    let pipeline = common::pipeline(&format!(
        "hlsdashsink name=out location=\"{}\" segment-duration={segment_ns} playlist-length={playlist_length} \
         storage-manifest=true \
         videotestsrc is-live=true pattern=smpte ! video/x-raw,format=I420,width=320,height=180,framerate={FPS}/1 \
         ! timecodeparse first-timecode={} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=500 ! out. \
         {audio_branch}",
        dir.display(),
        timecode_now()
    ))?;
    println!("output: {}", dir.display());

    let mut segments: Vec<Segment> = Vec::new();
    let mut manifests: Vec<(i64, Vec<String>)> = Vec::new();
    let started = Instant::now();
    let mut eos_sent = false;
    let warnings = common::run(
        &pipeline,
        Duration::from_secs(seconds + 30),
        |event| match event {
            Event::Tick | Event::Message(_)
                if !eos_sent && started.elapsed() >= Duration::from_secs(seconds) =>
            {
                // The end of the programme: EOS closes the open segment and writes the
                // final manifests.
                println!("sending EOS after {seconds} s");
                eos_sent = true;
                pipeline.send_event(gst::event::Eos::new());
                Ok(())
            }
            Event::Message(msg) => {
                if let Some(s) = common::element_message(msg, "hlsdashsink-segment") {
                    println!("message: {s}");
                    segments.push(Segment {
                        representation: field(s, "representation")?,
                        location: field(s, "location")?,
                        k: field(s, "k")?,
                        frames: field(s, "frames")?,
                        first_utc_ns: field(s, "first-utc-ns")?,
                    });
                } else if let Some(s) = common::element_message(msg, "hlsdashsink-manifest") {
                    println!("message: {s}");
                    let locations = field::<gst::Array>(s, "locations")?
                        .iter()
                        .map(|v| v.get::<String>().unwrap_or_default())
                        .collect();
                    manifests.push((field(s, "k")?, locations));
                }
                Ok(())
            }
            Event::Tick => Ok(()),
        },
    )?;
    common::no_warnings(&warnings)?;
    check(
        &dir,
        &segments,
        &manifests,
        segment_ns,
        segment_frames,
        audio,
    )?;
    println!(
        "output kept in {} (index.m3u8, manifest.mpd)",
        dir.display()
    );
    Ok(())
}

fn check(
    dir: &Path,
    segments: &[Segment],
    manifests: &[(i64, Vec<String>)],
    segment_ns: i64,
    segment_frames: i64,
    audio: bool,
) -> Result<()> {
    let video: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.representation == "video")
        .collect();
    if video.len() < 2 {
        return Err(failed(format!(
            "{} video segment(s) written, expected at least 2",
            video.len()
        )));
    }
    let half_frame = 1_000_000_000 / FPS / 2;
    for (i, s) in video.iter().enumerate() {
        if i > 0 && s.k != video[i - 1].k + 1 {
            return Err(failed(format!(
                "video segment k={} follows k={}",
                s.k,
                video[i - 1].k
            )));
        }
        if (s.first_utc_ns - s.k * segment_ns).abs() > half_frame {
            return Err(failed(format!(
                "video segment k={} starts at {} ns, not on the epoch grid at k × {segment_ns} ns",
                s.k, s.first_utc_ns
            )));
        }
        let last = i == video.len() - 1;
        let frames = i64::from(s.frames);
        if (!last && frames != segment_frames) || frames > segment_frames || frames == 0 {
            return Err(failed(format!(
                "video segment k={} holds {frames} frames, a segment is {segment_frames}",
                s.k
            )));
        }
    }
    if audio {
        for v in &video[..video.len() - 1] {
            if !segments
                .iter()
                .any(|s| s.representation == "audio_0" && s.k == v.k)
            {
                return Err(failed(format!("no audio segment for k={}", v.k)));
            }
        }
    }
    if manifests.is_empty() {
        return Err(failed("no manifest update"));
    }
    for (k, locations) in manifests {
        for name in ["video.m3u8", "manifest.mpd"] {
            if !locations.iter().any(|l| l == name) {
                return Err(failed(format!(
                    "the manifest update for k={k} does not name {name}: {locations:?}"
                )));
            }
        }
    }

    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| failed(format!("{}: {e}", dir.join(name).display())))
    };
    let playlist = read("video.m3u8")?;
    if !playlist.lines().any(|l| l == "#EXT-X-ENDLIST") {
        return Err(failed("the final video.m3u8 has no EXT-X-ENDLIST"));
    }
    let storage = read("storage.json")?;
    read("manifest.mpd")?;
    read("index.m3u8")?;
    let mut listed = 0;
    let mut pdt: Option<&str> = None;
    for line in playlist.lines() {
        if let Some(value) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(value);
        } else if !line.starts_with('#') && !line.is_empty() {
            let segment = video
                .iter()
                .find(|s| s.location == line)
                .ok_or_else(|| failed(format!("video.m3u8 lists {line}, never announced")))?;
            let expected = gstlockstep::timecode::utc::format_rfc3339_millis(segment.first_utc_ns);
            if pdt.take() != Some(expected.as_str()) {
                return Err(failed(format!(
                    "video.m3u8: {line} is not dated {expected} (its first frame's UTC instant)"
                )));
            }
            if !dir.join(line).is_file() || !storage.contains(&format!("\"{line}\"")) {
                return Err(failed(format!(
                    "{line} is listed but missing on disk or in storage.json"
                )));
            }
            listed += 1;
        }
    }
    let last = video.last().expect("checked above");
    if !playlist.lines().any(|l| l == last.location) {
        return Err(failed(format!(
            "the final video.m3u8 does not list the last segment {}",
            last.location
        )));
    }
    println!(
        "ok: video segments k={}..={} on the epoch grid ({segment_frames} frames each, the last {}){}, {} manifest updates, the final playlist lists {listed} with their program-date-time",
        video[0].k,
        last.k,
        last.frames,
        if audio { ", audio for each" } else { "" },
        manifests.len()
    );
    Ok(())
}
