// SPDX-License-Identifier: MPL-2.0
//! The storage index (`storage.json`, `storage_<audio>.json`) against the files: every entry's
//! segment is there with its size and SHA-256, holds as many frames as the index says, covers
//! the timecode and UTC range it claims, starts at its playlist's program date-time, and
//! follows the previous entry by exactly one frame.

use std::collections::HashMap;
use std::path::Path;

use gstlockstep::packaging::storage::{StorageIndex, StoredSegment, sha256_hex};
use gstlockstep::timecode::{FrameRate, Timecode};

use super::hls::Playlist;
use super::mp4;
use super::report::Report;

/// The index's frame rate (`frame_rate`: "25/1"), for the video's.
fn frame_rate(text: &str) -> Option<FrameRate> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let (num, den) = value["frame_rate"].as_str()?.split_once('/')?;
    FrameRate::new(num.parse().ok()?, den.parse().ok()?)
}

/// Checks one index; `video` says whether its entries are video frames (else AAC frames), and
/// `playlist` is the track's playlist, for the program date-times.
pub fn check(
    dir: &Path,
    name: &str,
    video: bool,
    playlist: Option<&Playlist>,
    report: &mut Report,
) -> Vec<StoredSegment> {
    let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
        report.error("storage-parse", name, "cannot be read");
        return Vec::new();
    };
    let entries = match StorageIndex::read_segments(&text, |_| None) {
        Ok(entries) => entries,
        Err(e) => {
            report.error("storage-parse", name, e.to_string());
            return Vec::new();
        }
    };
    report.counts.storage_entries += entries.len();
    let rate = frame_rate(&text);
    let pdts: HashMap<&str, (Option<i64>, bool)> = playlist
        .map(|p| {
            p.segments
                .iter()
                .map(|s| (s.uri.as_str(), (s.pdt_ns, s.discontinuity)))
                .collect()
        })
        .unwrap_or_default();
    let mut previous: Option<&StoredSegment> = None;
    for entry in &entries {
        let path = dir.join(&entry.name);
        match std::fs::read(&path).map(|bytes| (sha256_hex(&bytes), bytes)) {
            Err(_) => report.error(
                "storage-missing",
                name,
                format!(
                    "segment {} (k {}) is indexed but not in the directory",
                    entry.name, entry.k
                ),
            ),
            Ok((sha256, bytes)) => {
                let size = bytes.len() as u64;
                if size != entry.size_bytes {
                    report.error(
                        "storage-size",
                        name,
                        format!(
                            "{} has {size} bytes, the index says {}",
                            entry.name, entry.size_bytes
                        ),
                    );
                }
                if sha256 != entry.sha256 {
                    report.error(
                        "storage-sha256",
                        name,
                        format!(
                            "{} does not have the SHA-256 the index records (its bytes changed)",
                            entry.name
                        ),
                    );
                }
                if let Some(fragment) = mp4::fragment(&bytes)
                    && fragment.samples != entry.frames
                {
                    report.error(
                        "storage-frames",
                        name,
                        format!(
                            "{} holds {} samples, the index says {} frames",
                            entry.name, fragment.samples, entry.frames
                        ),
                    );
                }
            }
        }
        if video && let Some(rate) = rate {
            let period = rate.frames_to_ns(1);
            let span = entry.last_frame_utc_ns - entry.first_frame_utc_ns;
            let expected = rate.frames_to_ns(i64::from(entry.frames.saturating_sub(1)));
            if (span - expected).abs() > 1_000_000 {
                report.error(
                    "storage-utc",
                    name,
                    format!(
                        "{}: its UTC range spans {} ms for {} frames",
                        entry.name,
                        span / 1_000_000,
                        entry.frames
                    ),
                );
            }
            if let (Ok(first), Ok(last)) = (
                entry.first_timecode.parse::<Timecode>(),
                entry.last_timecode.parse::<Timecode>(),
            ) {
                let per_day = i64::from(Timecode::frames_per_day(rate, first.drop_frame));
                let frames = (i64::from(last.frame_of_day(rate))
                    - i64::from(first.frame_of_day(rate)))
                .rem_euclid(per_day.max(1));
                if frames != i64::from(entry.frames.saturating_sub(1)) {
                    report.error(
                        "storage-timecode",
                        name,
                        format!(
                            "{}: timecodes {} to {} are {} frames apart for {} frames",
                            entry.name,
                            entry.first_timecode,
                            entry.last_timecode,
                            frames,
                            entry.frames
                        ),
                    );
                }
            }
            if let Some(before) = previous
                && entry.k == before.k + 1
                && !pdts.get(entry.name.as_str()).is_some_and(|(_, d)| *d)
            {
                let step = entry.first_frame_utc_ns - before.last_frame_utc_ns;
                if (step - period).abs() > 1_000_000 {
                    report.error(
                        "storage-continuity",
                        name,
                        format!(
                            "{} starts {} ms after the previous segment's last frame, not one frame ({} ms)",
                            entry.name,
                            step as f64 / 1e6,
                            period as f64 / 1e6
                        ),
                    );
                }
            }
        }
        // Audio segments start at their first whole AAC frame, up to a frame after the
        // boundary the program date-time names: only the video's first frame is the PDT.
        if video
            && let Some((Some(pdt), _)) = pdts.get(entry.name.as_str())
            && (entry.first_frame_utc_ns - pdt).abs() > 1_000_000
        {
            report.error(
                "storage-utc",
                name,
                format!(
                    "{} starts at {} by the index, at {} by its playlist's program date-time",
                    entry.name,
                    gstlockstep::timecode::utc::format_rfc3339_millis(entry.first_frame_utc_ns),
                    gstlockstep::timecode::utc::format_rfc3339_millis(*pdt)
                ),
            );
        }
        previous = Some(entry);
    }
    entries
}
