// SPDX-License-Identifier: MPL-2.0
//! `lockstep validate DIR [DIR2]`: is an output sound, and are two redundant outputs
//! interchangeable?
//!
//! One directory: its HLS playlists ([`hls`]: RFC 8216 rules, program date-times, segment
//! numbers), its DASH MPD ([`dash`]: the ISO/IEC 23009-1 schema, timing equal to the
//! playlists'), every segment against the storage index ([`storage`]: size, SHA-256, frames,
//! timecode and UTC ranges, continuity) and every video segment starting on a keyframe
//! ([`mp4`]). Two directories: each is checked, and then whether a player could take either
//! ([`compare`]): the same files, segments with the same numbers, durations and program
//! date-times, manifests byte for byte where both list the same segments, and the first place
//! they diverge.
//!
//! The readers take any bytes: truncated files and garbage give findings, never a panic.

mod compare;
mod dash;
pub mod hls;
pub mod mp4;
mod report;
mod storage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

pub use report::{Counts, Finding, Report, Severity};

/// Check that an output directory is sound, or that two redundant outputs are interchangeable.
///
/// One directory: the HLS playlists (RFC 8216: EXT-X-TARGETDURATION never exceeded, a program
/// date-time on every segment consistent with the durations, EXT-X-MAP, EXT-X-GAP, segment
/// numbers), the DASH MPD (the ISO/IEC 23009-1 schema; availabilityStartTime, startNumber and
/// timescale agreeing with the playlists), every segment against storage.json (SHA-256, size,
/// frames, timecode and UTC ranges), a keyframe first in every video segment, and timecode/UTC
/// continuity. Two directories: both, and whether they are interchangeable (same names,
/// numbers, durations, program date-times, manifests byte for byte where both list the same
/// segments) — if not, the first place they diverge.
///
/// Exit status 0: valid (and interchangeable); 1: not; 2: a directory cannot be read. The
/// verdict is the last line printed.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The output directory (of hlsdashsink or `lockstep live`).
    pub dir: PathBuf,
    /// A second, redundant output to compare with the first.
    pub dir2: Option<PathBuf>,
    /// Print the report as JSON (the verdict line stays last, on stderr).
    #[arg(long)]
    pub json: bool,
    /// Re-read the playlists every second for this many seconds while a packager writes
    /// them: the media and discontinuity sequence numbers must never go back, and every
    /// version must be valid.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,
}

/// A file's name in findings: relative to the directory.
fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The playlists a directory holds: (multivariant names, media playlist names).
fn playlist_names(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".m3u8"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let (multivariant, media): (Vec<String>, Vec<String>) = names.into_iter().partition(|n| {
        std::fs::read(dir.join(n))
            .map(|bytes| String::from_utf8_lossy(&bytes).contains("#EXT-X-STREAM-INF"))
            .unwrap_or(false)
    });
    (multivariant, media)
}

fn files_ending(dir: &Path, suffix: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(suffix) && n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Checks one output directory into `report`; the video playlist, for comparisons.
fn check_dir(dir: &Path, report: &mut Report) -> Vec<(String, hls::Playlist)> {
    if !dir.is_dir() {
        report.error(
            "directory",
            "",
            format!("{} is not a readable directory", dir.display()),
        );
        return Vec::new();
    }
    let (multivariant, media) = playlist_names(dir);
    for name in &multivariant {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        for uri in hls::check_multivariant(name, &bytes, Some(dir), report) {
            if !media.contains(&uri) {
                report.error(
                    "hls-multivariant",
                    name,
                    format!("{uri} is named but is no media playlist here"),
                );
            }
        }
    }
    let mut playlists = Vec::new();
    for name in &media {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        if let Some(playlist) = hls::check_media(name, &bytes, Some(dir), report) {
            playlists.push((name.clone(), playlist));
        }
    }
    let mpds = files_ending(dir, ".mpd", "");
    if media.is_empty() && mpds.is_empty() {
        report.error(
            "no-manifest",
            "",
            format!("{} holds no HLS playlist and no DASH MPD", dir.display()),
        );
        return playlists;
    }
    let video = playlists
        .iter()
        .find(|(n, _)| n == "video.m3u8")
        .or_else(|| playlists.first())
        .map(|(_, p)| p);
    for name in &mpds {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        dash::check(name, &bytes, video, true, report);
    }
    for (name, playlist) in &playlists {
        let is_video = name == "video.m3u8";
        let index = if is_video {
            "storage.json".to_owned()
        } else {
            format!("storage_{}.json", name.trim_end_matches(".m3u8"))
        };
        if dir.join(&index).is_file() {
            storage::check(dir, &index, is_video, Some(playlist), report);
        }
        for segment in playlist.segments.iter().filter(|s| !s.gap) {
            report.counts.segments += 1;
            if !is_video || !segment.uri.ends_with(".m4s") {
                continue;
            }
            let Ok(bytes) = std::fs::read(dir.join(&segment.uri)) else {
                continue;
            };
            match mp4::fragment(&bytes).map(|f| f.first_is_sync) {
                Some(Some(true)) => {}
                Some(Some(false)) => report.error(
                    "keyframe",
                    name,
                    format!("segment {} does not start with a keyframe", segment.uri),
                ),
                Some(None) => report.warning(
                    "keyframe",
                    name,
                    format!(
                        "segment {}: its first sample's flags are in the init segment; not checked",
                        segment.uri
                    ),
                ),
                None => report.error(
                    "segment",
                    name,
                    format!(
                        "segment {} is no CMAF media segment (no moof/traf/trun)",
                        segment.uri
                    ),
                ),
            }
        }
    }
    playlists
}

/// Every reader of the validator on the same untrusted bytes, as a playlist, an MPD (without
/// the schema, which runs xmllint), a storage index and a media segment, touching no file: the
/// fuzz target's entry. Findings, never a panic.
pub fn read_untrusted(bytes: &[u8]) -> Report {
    let mut report = Report::new(vec!["(bytes)".into()]);
    let playlist = hls::check_media("media.m3u8", bytes, None, &mut report);
    hls::check_multivariant("index.m3u8", bytes, None, &mut report);
    dash::check("manifest.mpd", bytes, playlist.as_ref(), false, &mut report);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = gstlockstep::packaging::storage::StorageIndex::read_segments(text, |_| None);
    }
    let _ = mp4::fragment(bytes);
    report
}

/// Validates one output directory.
pub fn validate_dir(dir: &Path) -> Report {
    let mut report = Report::new(vec![display(dir)]);
    check_dir(dir, &mut report);
    report
}

/// Validates two redundant outputs and whether they are interchangeable.
pub fn compare_dirs(a: &Path, b: &Path) -> Report {
    let mut report = Report::new(vec![display(a), display(b)]);
    for (dir, tag) in [(a, "1"), (b, "2")] {
        let mut own = Report::new(vec![display(dir)]);
        check_dir(dir, &mut own);
        report.counts.playlists += own.counts.playlists;
        report.counts.mpds += own.counts.mpds;
        report.counts.segments += own.counts.segments;
        report.counts.storage_entries += own.counts.storage_entries;
        for mut finding in own.findings {
            finding.file = format!("[{tag}] {}", finding.file);
            report.findings.push(finding);
        }
    }
    compare::interchangeable(a, b, &mut report);
    report
}

/// `--watch`: reads the playlists every second for `seconds`, checking each reload.
fn watch(dir: &Path, seconds: u64, report: &mut Report) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last: Vec<(String, hls::Playlist)> = Vec::new();
    while Instant::now() < deadline {
        let (_, media) = playlist_names(dir);
        let mut quiet = Report::new(vec![display(dir)]);
        let mut now = Vec::new();
        for name in &media {
            let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
            if let Some(playlist) = hls::check_media(name, &bytes, None, &mut quiet) {
                if let Some((_, before)) = last.iter().find(|(n, _)| n == name) {
                    hls::check_reload(name, before, &playlist, report);
                }
                now.push((name.clone(), playlist));
            }
        }
        for finding in quiet
            .findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
        {
            if !report.findings.contains(&finding) {
                report.findings.push(finding);
            }
        }
        last = now;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs `lockstep validate`.
pub fn run(args: ValidateArgs) -> ExitCode {
    for dir in std::iter::once(&args.dir).chain(args.dir2.as_ref()) {
        if std::fs::read_dir(dir).is_err() {
            eprintln!(
                "lockstep validate: {} is not a readable directory; give an output directory of hlsdashsink or lockstep live",
                dir.display()
            );
            return ExitCode::from(2);
        }
    }
    let mut watched = Report::new(vec![display(&args.dir)]);
    if let Some(seconds) = args.watch {
        watch(&args.dir, seconds, &mut watched);
    }
    let mut report = match &args.dir2 {
        Some(other) => compare_dirs(&args.dir, other),
        None => validate_dir(&args.dir),
    };
    report.findings.extend(watched.findings);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("lockstep validate: {e}"),
        }
        eprintln!("{}", report.verdict_line());
    } else {
        for finding in &report.findings {
            let level = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            println!(
                "{level}: {} [{}] {}",
                finding.file, finding.check, finding.message
            );
        }
        println!("{}", report.verdict_line());
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
